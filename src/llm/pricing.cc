#include "kiln/llm/pricing.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "kiln/base/log.h"

namespace kiln::llm {

extern const std::string_view kBuiltinPricesJson;  // prices_data.cc, generated from data/prices.json

namespace {

using nlohmann::json;

Result<Price> ParsePrice(const std::string& name, const json& j) {
  auto number = [&](const char* key) -> std::optional<double> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number() || it->get<double>() < 0) return std::nullopt;
    return it->get<double>();
  };
  auto in = number("input");
  auto out = number("output");
  if (!j.is_object() || !in || !out) {
    return InvalidArgument("price entry \"" + name +
                           "\" needs non-negative numbers \"input\" and \"output\"");
  }
  return Price{*in, *out, number("cached_input")};
}

}  // namespace

Result<PriceTable> PriceTable::FromJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("models") || !j["models"].is_object()) {
    return InvalidArgument("price table is not a JSON object with a \"models\" object");
  }
  if (j.value("version", 1) != 1) return InvalidArgument("price table version is not 1");
  PriceTable t;
  for (const auto& [name, entry] : j["models"].items()) {
    KILN_ASSIGN_OR_RETURN(Price p, ParsePrice(name, entry));
    t.Set(name, p);
  }
  return t;
}

Result<PriceTable> PriceTable::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("price table " + path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  Result<PriceTable> t = FromJson(ss.str());
  if (!t.ok()) return t.status().WithContext("price table " + path);
  return t;
}

const PriceTable& PriceTable::Builtin() {
  static const PriceTable* table = [] {
    Result<PriceTable> t = FromJson(kBuiltinPricesJson);
    if (!t.ok()) log::Error("built-in price table: " + t.status().ToString());  // a build-time data bug
    return new PriceTable(t.ok() ? std::move(t).value() : PriceTable());
  }();
  return *table;
}

Result<PriceTable> PriceTable::Default(const EnvLookup& env) {
  std::optional<std::string> path;
  if (env) {
    path = env("KILN_PRICES");
  } else if (const char* v = std::getenv("KILN_PRICES"); v != nullptr && *v != '\0') {
    path = v;
  }
  PriceTable t = Builtin();
  if (!path) return t;
  KILN_ASSIGN_OR_RETURN(PriceTable over, FromFile(*path));
  t.Merge(over);
  return t;
}

void PriceTable::Set(std::string model, Price price) {
  prices_[std::move(model)] = price;
}

void PriceTable::Merge(const PriceTable& other) {
  for (const auto& [k, v] : other.prices_) prices_[k] = v;
}

std::optional<Price> PriceTable::Find(std::string_view model) const {
  for (int pass = 0; pass < 2; ++pass) {
    if (auto it = prices_.find(model); it != prices_.end()) return it->second;
    size_t colon = model.find(':');
    if (colon == std::string_view::npos) break;
    model.remove_prefix(colon + 1);
  }
  const Price* best = nullptr;
  size_t best_len = 0;
  for (const auto& [k, v] : prices_) {
    if (k.size() > best_len && model.size() > k.size() && model.substr(0, k.size()) == k &&
        model[k.size()] == '-') {
      best = &v;
      best_len = k.size();
    }
  }
  return best ? std::optional<Price>(*best) : std::nullopt;
}

Cost PriceTable::CostOf(std::string_view model, const Usage& usage) const {
  std::optional<Price> p = Find(model);
  if (!p) return Cost{};
  int64_t cached = std::min(usage.cache_read_input_tokens, usage.input_tokens);
  double usd = static_cast<double>(usage.input_tokens - cached) * p->input_per_mtok +
               static_cast<double>(cached) * p->cached_input_per_mtok.value_or(p->input_per_mtok) +
               static_cast<double>(usage.output_tokens) * p->output_per_mtok;
  return Cost{usd / 1e6, true};
}

void UsageTotals::Add(const Usage& usage, const Cost& cost) {
  std::lock_guard<std::mutex> lock(mu_);
  totals_.usage += usage;
  totals_.cost_usd += cost.usd;
  totals_.calls += 1;
  totals_.all_priced = totals_.all_priced && cost.known;
}

Cost UsageTotals::Add(const PriceTable& table, std::string_view request_model, const ChatResponse& response) {
  Cost c = table.CostOf(request_model, response.usage);
  if (!c.known && !response.response_model.empty()) c = table.CostOf(response.response_model, response.usage);
  Add(response.usage, c);
  return c;
}

UsageTotals::Snapshot UsageTotals::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

}  // namespace kiln::llm
