// The SnippetExecutor of `kiln check-docs`: one sandbox per document, reached through envd's code
// interpreter.
#include <map>

#include "kiln/checks/doc_check.h"
#include "kiln/runtime/runtime.h"

namespace kiln::checks {
namespace {

class SandboxExecutor : public SnippetExecutor {
 public:
  explicit SandboxExecutor(runtime::Runtime* runtime) : runtime_(runtime) {}
  ~SandboxExecutor() override {
    if (!sandbox_id_.empty()) (void)runtime_->Kill(sandbox_id_);
  }

  Result<client::Execution> Execute(const std::string& language, const std::string& code,
                                    int64_t timeout_ms) override {
    KILN_RETURN_IF_ERROR(EnsureSandbox());
    client::ExecuteOptions options;
    KILN_ASSIGN_OR_RETURN(options.context_id, ContextFor(language));
    options.timeout_ms = timeout_ms;
    // envd interrupts the cell at timeout_ms; the deadline only guards against a sandbox that stopped
    // answering altogether.
    options.request_timeout_ms = timeout_ms + 15'000;
    return client_->Execute(code, options);
  }

  Status NewContext(const std::string& language) override {
    KILN_RETURN_IF_ERROR(EnsureSandbox());
    KILN_ASSIGN_OR_RETURN(client::CodeContext context, client_->CreateContext(language));
    contexts_[language] = context.id;
    return Status::Ok();
  }

  std::string Unavailable(const std::string& language) override {
    if (language != "javascript") return "";
    if (!javascript_checked_) {
      javascript_checked_ = true;
      Status made = NewContext("javascript");
      if (!made.ok()) javascript_missing_ = "javascript: no node in the sandbox (" + made.message() + ")";
    }
    return javascript_missing_;
  }

 private:
  Status EnsureSandbox() {
    if (client_) return Status::Ok();
    if (!start_error_.ok()) return start_error_;
    runtime::CreateOptions create;
    create.spec.limits.timeout_ms = 0;  // lives as long as the document's check; killed with the executor
    create.die_with_owner = true;       // a SIGKILLed kiln takes it down too
    create.spec.env["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    create.env_vars["MPLCONFIGDIR"] = "/tmp/.matplotlib";
    Result<runtime::SandboxInfo> made = runtime_->CreateSandbox(create);
    if (!made.ok()) {
      start_error_ = made.status().WithContext("cannot start a sandbox");
      return start_error_;
    }
    sandbox_id_ = made->id;
    client_ = std::make_unique<client::CodeClient>(made->socket_path, made->access_token);
    return Status::Ok();
  }

  // The context id of `language`; python's default context is none.
  Result<std::optional<std::string>> ContextFor(const std::string& language) {
    if (auto it = contexts_.find(language); it != contexts_.end())
      return std::optional<std::string>(it->second);
    if (language == "python") return std::optional<std::string>();
    KILN_RETURN_IF_ERROR(NewContext(language));
    return std::optional<std::string>(contexts_[language]);
  }

  runtime::Runtime* runtime_;
  std::string sandbox_id_;
  Status start_error_;
  std::unique_ptr<client::CodeClient> client_;
  std::map<std::string, std::string> contexts_;  // language -> the context in use
  bool javascript_checked_ = false;
  std::string javascript_missing_;
};

}  // namespace

std::unique_ptr<SnippetExecutor> NewSandboxExecutor(runtime::Runtime* runtime) {
  return std::make_unique<SandboxExecutor>(runtime);
}

}  // namespace kiln::checks
