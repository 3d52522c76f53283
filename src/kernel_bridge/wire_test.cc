#include "kiln/kernel_bridge/wire.h"

#include <gtest/gtest.h>

#include <set>

#include "kernel_process.h"

namespace kiln::kernel_bridge {
namespace {

TEST(Signer, Rfc4231TestCase2) {
  Signer signer("Jefe");
  EXPECT_EQ(signer.Sign({"what do ya want ", "for nothing?"}),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_TRUE(signer.Verify({"what do ya want for nothing?"},
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  EXPECT_FALSE(signer.Verify({"what do ya want for nothing?"},
                             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3844"));
  EXPECT_FALSE(signer.Verify({"what do ya want for nothing?"}, ""));
}

TEST(Signer, EmptyKeyMeansUnsigned) {
  Signer none("");
  EXPECT_EQ(none.Sign({"x"}), "");
  EXPECT_TRUE(none.Verify({"x"}, "anything"));
}

TEST(EncodeMessage, FramesInWireOrder) {
  Signer signer("k");
  Message m = NewMessage("execute_request", "sess", {{"code", "1"}});
  m.identities = {"route"};
  std::vector<std::string> frames = EncodeMessage(m, signer);
  ASSERT_EQ(frames.size(), 7u);
  EXPECT_EQ(frames[0], "route");
  EXPECT_EQ(frames[1], "<IDS|MSG>");
  EXPECT_EQ(frames[2], signer.Sign({frames[3], frames[4], frames[5], frames[6]}));
  Json header = Json::parse(frames[3]);
  EXPECT_EQ(header["msg_type"], "execute_request");
  EXPECT_EQ(header["session"], "sess");
  EXPECT_EQ(header["version"], "5.3");
  EXPECT_EQ(header["msg_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(frames[4], "{}");
  EXPECT_EQ(frames[5], "{}");
  EXPECT_EQ(Json::parse(frames[6]), Json({{"code", "1"}}));
}

TEST(DecodeMessage, RoundTripAndTopicPrefix) {
  Signer signer("secret");
  Message m = NewMessage("stream", "s", {{"name", "stdout"}, {"text", "hi\n"}});
  m.parent_header = {{"msg_id", "parent-1"}};
  m.identities = {"kernel.abc.stream"};
  m.buffers = {"raw"};
  auto back = DecodeMessage(EncodeMessage(m, signer), signer);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->identities, m.identities);
  EXPECT_EQ(back->type(), "stream");
  EXPECT_EQ(back->parent_id(), "parent-1");
  EXPECT_EQ(back->id(), m.id());
  EXPECT_EQ(back->content["text"], "hi\n");
  EXPECT_EQ(back->buffers, m.buffers);
}

TEST(DecodeMessage, RejectsForgedAndMalformed) {
  Signer signer("secret");
  std::vector<std::string> frames =
      EncodeMessage(NewMessage("status", "s", {{"execution_state", "idle"}}), signer);
  std::vector<std::string> tampered = frames;
  tampered[5] = R"({"execution_state":"busy"})";
  EXPECT_EQ(DecodeMessage(tampered, signer).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(DecodeMessage(frames, Signer("other")).status().code(), Code::kPermissionDenied);
  std::vector<std::string> no_delimiter(frames.begin() + 1, frames.end());
  EXPECT_EQ(DecodeMessage(no_delimiter, signer).status().code(), Code::kInvalidArgument);
  std::vector<std::string> short_frames(frames.begin(), frames.begin() + 4);
  EXPECT_EQ(DecodeMessage(short_frames, signer).status().code(), Code::kInvalidArgument);
  std::vector<std::string> not_json = frames;
  not_json[5] = "[";
  not_json[1] = signer.Sign({not_json[2], not_json[3], not_json[4], not_json[5]});
  EXPECT_EQ(DecodeMessage(not_json, signer).status().code(), Code::kInvalidArgument);
}

TEST(ConnectionInfo, TcpLoopbackSignedWithHmacSha256) {
  auto ports = ReserveLoopbackPorts(kChannelCount);
  ASSERT_TRUE(ports.ok()) << ports.status().ToString();
  std::set<int> distinct(ports->begin(), ports->end());
  EXPECT_EQ(distinct.size(), 5u);
  Json info = ConnectionInfo(*ports, "key", "ir");
  EXPECT_EQ(info["transport"], "tcp");
  EXPECT_EQ(info["ip"], "127.0.0.1");
  EXPECT_EQ(info["signature_scheme"], "hmac-sha256");
  EXPECT_EQ(info["key"], "key");
  EXPECT_EQ(info["shell_port"], (*ports)[kShell]);
  EXPECT_EQ(info["hb_port"], (*ports)[kHeartbeat]);
}

}  // namespace
}  // namespace kiln::kernel_bridge
