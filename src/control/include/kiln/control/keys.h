// API keys of a Kiln server: who may call the control plane.
//
// A key's secret ("e2b_" + 40 hex digits, the shape older E2B SDKs insist on) is shown once, when the key is
// created; only its SHA-256 is stored. A key has a short public id (used by `kiln keys revoke` and as the
// E2B clientID) and an admin flag: an admin key sees and manages every sandbox, any other key only its own.
//
// Thread-safety: every method may be called from any thread; the store serialises access to the database.
// Several processes (a server and `kiln keys`) may open the same home directory at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/base/status.h"

namespace kiln::control {

class Database;

struct ApiKey {
  std::string id;  // public, e.g. "k3f2a9c01"
  std::string name;
  bool admin = false;
  int64_t created_ms = 0;  // wall clock
  int64_t revoked_ms = 0;  // 0 while the key is valid
};

struct NewApiKey {
  ApiKey key;
  std::string secret;  // the only copy; the store keeps its hash
};

// Who is calling, once a secret has been checked.
struct Principal {
  std::string key_id;
  bool admin = false;
};

// SHA-256 of `data` as lower-case hex.
std::string Sha256Hex(std::string_view data);

class KeyStore {
 public:
  // `db` must outlive the store.
  explicit KeyStore(Database* db) : db_(db) {}

  // InvalidArgument for an empty or over-long name (> 100 bytes).
  Result<NewApiKey> Create(const std::string& name, bool admin);
  // Every key, revoked ones included, oldest first.
  Result<std::vector<ApiKey>> List() const;
  // NotFound for an unknown id; revoking twice is OK.
  Status Revoke(const std::string& id);
  // The principal of a valid secret. PermissionDenied for an unknown or revoked one (the message never
  // repeats the secret).
  Result<Principal> Authenticate(const std::string& secret) const;
  // How many keys exist (revoked included): 0 means a fresh home directory.
  Result<int64_t> Count() const;

 private:
  Database* db_;
};

}  // namespace kiln::control
