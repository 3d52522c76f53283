// Test fakes for the agent: a provider that replays replies and records every request it receives.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "kiln/llm/provider.h"

namespace kiln::agent::testing {

// Replays `replies` in order (then fails with ResourceExhausted), each with usage {10 in, 20 out}, and keeps
// a copy of every request. Thread-safe.
class RecordingProvider : public llm::Provider {
 public:
  explicit RecordingProvider(std::vector<std::string> replies, std::string model = "fake:model")
      : Provider("fake", model, model.substr(model.find(':') + 1)), replies_(std::move(replies)) {}

  std::vector<llm::ChatRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // The text of the last user message of request `i`.
  std::string LastUserText(size_t i) const { return requests().at(i).messages.back().text; }

 protected:
  Result<llm::ChatResponse> ChatImpl(const llm::ChatRequest& request, llm::CallInfo& info) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    info.attempts = 1;
    if (next_ >= replies_.size()) return ResourceExhausted("fake: all replies used");
    llm::ChatResponse r;
    r.text = replies_[next_++];
    r.usage.input_tokens = 10;
    r.usage.output_tokens = 20;
    r.finish = llm::Finish::kStop;
    r.finish_reason = "stop";
    return r;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> replies_;
  size_t next_ = 0;
  std::vector<llm::ChatRequest> requests_;
};

}  // namespace kiln::agent::testing
