// libFuzzer target: Connect envelopes read from a stream fed in pieces; every envelope read must re-encode
// to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/protocol/connect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = data[0] % 32 + 1;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  kiln::connect::EnvelopeReader reader;
  std::string reencoded;
  for (size_t pos = 0; pos < input.size(); pos += step) {
    reader.Feed(input.substr(pos, step));
    kiln::connect::Envelope envelope;
    kiln::Status error;
    kiln::connect::EnvelopeReader::Outcome outcome;
    while ((outcome = reader.Next(&envelope, &error)) == kiln::connect::EnvelopeReader::Outcome::kEnvelope)
      reencoded += kiln::connect::EncodeEnvelope(envelope.flags, envelope.payload);
    if (outcome == kiln::connect::EnvelopeReader::Outcome::kError) return 0;
  }
  if (input.substr(0, reencoded.size()) != reencoded) __builtin_trap();
  if (reencoded.size() + reader.pending() != input.size()) __builtin_trap();
  return 0;
}
