// Encryption at rest (lib/store/encryption.h): the key file parser on any
// bytes, and opening any bytes as a sealed message with a fixed ring (the
// header, the key id and key check, the tag). Each answers a status, never
// crashes; a message that opens must be the one sealed from its plaintext
// (checked by sealing the plaintext again and opening that).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "lib/store/encryption.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using continuum::store::KeyRing;
  static const std::shared_ptr<const KeyRing> ring = *KeyRing::Parse(
      "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
      "k2 f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f",
      "k2", "fuzz keys");
  const std::string input(reinterpret_cast<const char*>(data), size);
  auto parsed = KeyRing::Parse(input, "k1", "fuzz input");
  if (parsed.ok()) (void)(*parsed)->key_ids();
  (void)KeyRing::KeyIdOf(input);
  std::string plaintext;
  if (ring->Open(input, "", &plaintext).ok()) {
    __builtin_trap();  // Forged: nobody sealed this under k1 or k2.
  }
  std::string sealed;
  ring->Seal(input, "ctx", &sealed);
  std::string back;
  if (!ring->Open(sealed, "ctx", &back).ok() || back != input) {
    __builtin_trap();
  }
  return 0;
}
