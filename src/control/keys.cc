#include "kiln/control/keys.h"

#include <openssl/evp.h>

#include "kiln/base/clock.h"
#include "kiln/base/ids.h"
#include "kiln/control/database.h"

namespace kiln::control {
namespace {

int64_t NowMs() {
  return WallNanos() / 1'000'000;
}

ApiKey ReadKey(const Statement& row) {
  return ApiKey{row.Text(0), row.Text(1), row.Int(2) != 0, row.Int(3), row.Int(4)};
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

Result<NewApiKey> KeyStore::Create(const std::string& name, bool admin) {
  if (name.empty() || name.size() > 100) return InvalidArgument("key name: must be 1 to 100 bytes");
  NewApiKey created{ApiKey{"k" + RandomHex(4), name, admin, NowMs(), 0}, "e2b_" + RandomHex(20)};
  auto lock = db_->Lock();
  KILN_ASSIGN_OR_RETURN(Statement insert,
                        db_->Prepare("INSERT INTO api_keys(id, name, hash, admin, created_ms, revoked_ms) "
                                     "VALUES(?, ?, ?, ?, ?, 0)"));
  insert.Bind(1, created.key.id).Bind(2, name).Bind(3, Sha256Hex(created.secret));
  insert.Bind(4, int64_t{admin}).Bind(5, created.key.created_ms);
  KILN_RETURN_IF_ERROR(insert.Run());
  return created;
}

Result<std::vector<ApiKey>> KeyStore::List() const {
  auto lock = db_->Lock();
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db_->Prepare("SELECT id, name, admin, created_ms, revoked_ms FROM api_keys ORDER BY created_ms, id"));
  std::vector<ApiKey> keys;
  while (true) {
    KILN_ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) return keys;
    keys.push_back(ReadKey(query));
  }
}

Status KeyStore::Revoke(const std::string& id) {
  auto lock = db_->Lock();
  KILN_ASSIGN_OR_RETURN(Statement find, db_->Prepare("SELECT revoked_ms FROM api_keys WHERE id = ?"));
  KILN_ASSIGN_OR_RETURN(bool row, find.Bind(1, id).Step());
  if (!row) return NotFound("no API key with id '" + id + "'");
  if (find.Int(0) != 0) return Status::Ok();
  KILN_ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE api_keys SET revoked_ms = ? WHERE id = ?"));
  return update.Bind(1, NowMs()).Bind(2, id).Run();
}

// The secret is looked up by its hash, so no comparison of secrets happens here at all.
Result<Principal> KeyStore::Authenticate(const std::string& secret) const {
  if (secret.empty()) return PermissionDenied("missing API key");
  auto lock = db_->Lock();
  KILN_ASSIGN_OR_RETURN(Statement find,
                        db_->Prepare("SELECT id, admin, revoked_ms FROM api_keys WHERE hash = ?"));
  KILN_ASSIGN_OR_RETURN(bool row, find.Bind(1, Sha256Hex(secret)).Step());
  if (!row) return PermissionDenied("invalid API key");
  if (find.Int(2) != 0) return PermissionDenied("API key " + find.Text(0) + " has been revoked");
  return Principal{find.Text(0), find.Int(1) != 0};
}

Result<int64_t> KeyStore::Count() const {
  auto lock = db_->Lock();
  KILN_ASSIGN_OR_RETURN(Statement count, db_->Prepare("SELECT COUNT(*) FROM api_keys"));
  KILN_ASSIGN_OR_RETURN(bool row, count.Step());
  return row ? count.Int(0) : 0;
}

}  // namespace kiln::control
