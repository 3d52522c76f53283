// libFuzzer target: Jupyter wire messages as the kernel bridge receives them from a kernel (ZeroMQ frames:
// identities, "<IDS|MSG>", signature, four JSON dicts, buffers). A kernel runs the sandbox's code, so its
// frames are hostile. Decoding must never crash; a message that decodes re-encodes and decodes to the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kernel_bridge/wire.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// Frames are separated by 0xFF bytes (which UTF-8 JSON never contains); the first byte picks the key.
std::vector<std::string> Frames(const uint8_t* data, size_t size) {
  std::vector<std::string> frames(1);
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0xFF) {
      frames.emplace_back();
    } else {
      frames.back().push_back(static_cast<char>(data[i]));
    }
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  kiln::kernel_bridge::Signer signer(data[0] & 1 ? "kiln-fuzz-key" : "");
  kiln::Result<kiln::kernel_bridge::Message> message =
      kiln::kernel_bridge::DecodeMessage(Frames(data, size), signer);
  if (!message.ok()) return 0;
  (void)message->type(), (void)message->id(), (void)message->parent_id();
  std::vector<std::string> again = kiln::kernel_bridge::EncodeMessage(*message, signer);
  kiln::Result<kiln::kernel_bridge::Message> round = kiln::kernel_bridge::DecodeMessage(again, signer);
  Check(round.ok());
  Check(round->header == message->header && round->content == message->content &&
        round->parent_header == message->parent_header && round->metadata == message->metadata &&
        round->buffers == message->buffers && round->identities == message->identities);
  return 0;
}
