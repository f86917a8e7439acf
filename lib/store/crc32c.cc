#include "lib/store/crc32c.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace continuum::store {
namespace crc32c_internal {
namespace {

// The reflected Castagnoli polynomial.
constexpr uint32_t kPolynomial = 0x82F63B78u;

struct Tables {
  uint32_t t[8][256];
};

// Slicing-by-8 tables: t[0] is the classic byte table; t[k][b] is the CRC of
// byte b followed by k zero bytes.
constexpr Tables MakeTables() {
  Tables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    tables.t[0][i] = c;
  }
  for (int s = 1; s < 8; ++s) {
    for (uint32_t i = 0; i < 256; ++i) {
      const uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xFF];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();

inline uint32_t LoadLittleEndian32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const char* data, size_t n) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(data);
  uint32_t l = crc ^ 0xFFFFFFFFu;
  const auto& t = kTables.t;
  while (n >= 8) {
    const uint32_t lo = l ^ LoadLittleEndian32(p);
    const uint32_t hi = LoadLittleEndian32(p + 4);
    l = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
        t[4][lo >> 24] ^ t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^
        t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    l = t[0][(l ^ *p) & 0xFF] ^ (l >> 8);
    ++p;
    --n;
  }
  return l ^ 0xFFFFFFFFu;
}

#if defined(__x86_64__)

bool CanUseSse42() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return supported;
}

namespace {

// Tables that advance a raw (uninverted) CRC state over `bytes` zero bytes:
// shift(state) = t[0][state & 0xFF] ^ t[1][(state >> 8) & 0xFF] ^ ...
// Used to combine the CRCs of three interleaved streams (Mark Adler's
// crc32c.c technique).
struct ShiftTables {
  uint32_t t[4][256];
};

ShiftTables MakeShiftTables(size_t bytes) {
  uint32_t bit_shift[32];
  for (int bit = 0; bit < 32; ++bit) {
    uint32_t state = uint32_t{1} << bit;
    for (size_t i = 0; i < bytes; ++i) {
      state = kTables.t[0][state & 0xFF] ^ (state >> 8);
    }
    bit_shift[bit] = state;
  }
  ShiftTables tables{};
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t v = 0;
      for (int i = 0; i < 8; ++i) {
        if (b & (1u << i)) v ^= bit_shift[8 * k + i];
      }
      tables.t[k][b] = v;
    }
  }
  return tables;
}

inline uint32_t Shift(const ShiftTables& tables, uint32_t state) {
  return tables.t[0][state & 0xFF] ^ tables.t[1][(state >> 8) & 0xFF] ^
         tables.t[2][(state >> 16) & 0xFF] ^ tables.t[3][state >> 24];
}

// Stream lengths of the interleaved loops.
constexpr size_t kLongBlock = 8192;
constexpr size_t kShortBlock = 256;

const ShiftTables& LongShift() {
  static const ShiftTables* tables =
      new ShiftTables(MakeShiftTables(kLongBlock));
  return *tables;
}

const ShiftTables& ShortShift() {
  static const ShiftTables* tables =
      new ShiftTables(MakeShiftTables(kShortBlock));
  return *tables;
}

// Runs three crc32 streams over blocks of `block` bytes at p, p + block and
// p + 2 * block, and combines them into crc0.
__attribute__((target("sse4.2"))) inline uint64_t ThreeWay(
    uint64_t crc0, const char* p, size_t block, const ShiftTables& shift) {
  uint64_t crc1 = 0;
  uint64_t crc2 = 0;
  const char* end = p + block;
  while (p < end) {
    uint64_t w0;
    uint64_t w1;
    uint64_t w2;
    std::memcpy(&w0, p, 8);
    std::memcpy(&w1, p + block, 8);
    std::memcpy(&w2, p + 2 * block, 8);
    crc0 = _mm_crc32_u64(crc0, w0);
    crc1 = _mm_crc32_u64(crc1, w1);
    crc2 = _mm_crc32_u64(crc2, w2);
    p += 8;
  }
  crc0 = Shift(shift, static_cast<uint32_t>(crc0)) ^ crc1;
  crc0 = Shift(shift, static_cast<uint32_t>(crc0)) ^ crc2;
  return crc0;
}

}  // namespace

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc,
                                                       const char* data,
                                                       size_t n) {
  const char* p = data;
  uint64_t l = crc ^ 0xFFFFFFFFu;
  // Three independent streams hide the crc32 instruction's latency.
  if (n >= 3 * kLongBlock) {
    const ShiftTables& shift = LongShift();
    while (n >= 3 * kLongBlock) {
      l = ThreeWay(l, p, kLongBlock, shift);
      p += 3 * kLongBlock;
      n -= 3 * kLongBlock;
    }
  }
  if (n >= 3 * kShortBlock) {
    const ShiftTables& shift = ShortShift();
    while (n >= 3 * kShortBlock) {
      l = ThreeWay(l, p, kShortBlock, shift);
      p += 3 * kShortBlock;
      n -= 3 * kShortBlock;
    }
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));  // x86 is little-endian.
    l = _mm_crc32_u64(l, word);
    p += 8;
    n -= 8;
  }
  uint32_t l32 = static_cast<uint32_t>(l);
  while (n > 0) {
    l32 = _mm_crc32_u8(l32, static_cast<uint8_t>(*p));
    ++p;
    --n;
  }
  return l32 ^ 0xFFFFFFFFu;
}

#else

bool CanUseSse42() { return false; }

uint32_t ExtendSse42(uint32_t crc, const char* data, size_t n) {
  return ExtendPortable(crc, data, n);
}

#endif

}  // namespace crc32c_internal

uint32_t ExtendCrc32c(uint32_t crc, absl::string_view data) {
  static const bool use_sse42 = crc32c_internal::CanUseSse42();
  if (use_sse42) {
    return crc32c_internal::ExtendSse42(crc, data.data(), data.size());
  }
  return crc32c_internal::ExtendPortable(crc, data.data(), data.size());
}

namespace {
constexpr uint32_t kMaskDelta = 0xA282EAD8u;
}  // namespace

uint32_t MaskCrc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

uint32_t UnmaskCrc(uint32_t masked_crc) {
  const uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace continuum::store
