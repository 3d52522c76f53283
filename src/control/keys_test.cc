// API keys: created once, stored hashed, checked, revoked, and still there after reopening the database.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kiln/control/database.h"
#include "kiln/control/keys.h"

namespace kiln::control {
namespace {

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kiln-keys-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "kiln.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(KeysTest, Sha256MatchesKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(KeysTest, CreatedKeyAuthenticatesAndOthersDoNot) {
  auto db = Database::Open(path_);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  KeyStore keys(db->get());
  auto created = keys.Create("ci", /*admin=*/false);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->secret.rfind("e2b_", 0) == 0);
  EXPECT_EQ(created->secret.size(), 44u);
  auto who = keys.Authenticate(created->secret);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->key_id, created->key.id);
  EXPECT_FALSE(who->admin);
  auto wrong = keys.Authenticate(created->secret.substr(0, 43) + (created->secret.back() == '0' ? "1" : "0"));
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(keys.Authenticate("").status().code(), Code::kPermissionDenied);
}

TEST_F(KeysTest, RevokedKeyIsRefusedAndListed) {
  auto db = Database::Open(path_);
  ASSERT_TRUE(db.ok());
  KeyStore keys(db->get());
  auto admin = keys.Create("admin", true);
  auto user = keys.Create("user", false);
  ASSERT_TRUE(admin.ok() && user.ok());
  ASSERT_TRUE(keys.Revoke(user->key.id).ok());
  ASSERT_TRUE(keys.Revoke(user->key.id).ok());  // twice is fine
  EXPECT_EQ(keys.Revoke("knothere").code(), Code::kNotFound);
  auto refused = keys.Authenticate(user->secret);
  EXPECT_EQ(refused.status().code(), Code::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("revoked"), std::string::npos);
  EXPECT_TRUE(keys.Authenticate(admin->secret)->admin);
  auto list = keys.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].revoked_ms == 0, (*list)[0].id == admin->key.id);
  EXPECT_EQ(*keys.Count(), 2);
}

TEST_F(KeysTest, OnlyTheHashIsStoredAndItSurvivesReopening) {
  std::string secret;
  {
    auto db = Database::Open(path_);
    ASSERT_TRUE(db.ok());
    auto created = KeyStore(db->get()).Create("k", false);
    ASSERT_TRUE(created.ok());
    secret = created->secret;
  }
  std::string all;
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(path_ + suffix, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    all += buffer.str();
  }
  EXPECT_EQ(all.find(secret), std::string::npos);
  EXPECT_NE(all.find(Sha256Hex(secret)), std::string::npos);
  EXPECT_EQ(std::filesystem::status(path_).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auto db = Database::Open(path_);
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(KeyStore(db->get()).Authenticate(secret).ok());
}

}  // namespace
}  // namespace kiln::control
