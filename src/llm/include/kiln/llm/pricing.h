// Prices and usage accounting: turns token counts into US dollars.
//
// The built-in table is the repository file data/prices.json, compiled into the library. Its format
// (version 1), prices in USD per million tokens:
//   {"version": 1,
//    "models": {"gpt-4o": {"input": 2.5, "output": 10.0, "cached_input": 1.25}, ...}}
// "cached_input" is optional (defaults to "input"). $KILN_PRICES=path names a file in the same format whose
// entries replace same-named built-in ones (PriceTable::Default); PriceTable::Set overrides programmatically.
// Lookup (Find) tries, in order: the exact name; the name without a "scheme:" prefix; the longest table key
// K such that the name starts with K + "-" (so "gpt-4o-2024-08-06" is priced as "gpt-4o").
// Thread-safety: a PriceTable is a value (const methods may run concurrently); UsageTotals is thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/llm/provider.h"

namespace kiln::llm {

struct Price {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  std::optional<double> cached_input_per_mtok;
};

struct Cost {
  double usd = 0;
  bool known = false;  // false: the model is not in the table and usd is 0
};

class PriceTable {
 public:
  PriceTable() = default;
  // Parses the format above. kInvalidArgument names the offending entry.
  static Result<PriceTable> FromJson(std::string_view text);
  // kNotFound if the file cannot be read; kInvalidArgument (with the path) if it does not parse.
  static Result<PriceTable> FromFile(const std::string& path);
  // The compiled-in data/prices.json.
  static const PriceTable& Builtin();
  // Builtin() merged with the file named by $KILN_PRICES (via `env`, null: getenv) when set.
  static Result<PriceTable> Default(const EnvLookup& env = nullptr);

  void Set(std::string model, Price price);
  // Entries of `other` replace same-named entries here.
  void Merge(const PriceTable& other);
  std::optional<Price> Find(std::string_view model) const;
  size_t size() const { return prices_.size(); }

  // Cost of `usage` for `model`: cached input at the cached price, the rest of input at the input price,
  // output at the output price.
  Cost CostOf(std::string_view model, const Usage& usage) const;

 private:
  std::map<std::string, Price, std::less<>> prices_;
};

// Sums usage and cost over a run (e.g. every call of one agent run). Thread-safe.
class UsageTotals {
 public:
  struct Snapshot {
    Usage usage;
    double cost_usd = 0;
    int64_t calls = 0;
    bool all_priced = true;  // false if some call's model had no price (its cost counted as 0)
  };
  void Add(const Usage& usage, const Cost& cost);
  // Prices the response with `table` by `request_model` (e.g. Provider::model()), falling back to
  // response.response_model, adds it, and returns the cost.
  Cost Add(const PriceTable& table, std::string_view request_model, const ChatResponse& response);
  Snapshot Get() const;

 private:
  mutable std::mutex mu_;
  Snapshot totals_;
};

}  // namespace kiln::llm
