// CRC-32C (Castagnoli), the checksum that frames every record of the segment
// log, with LevelDB's masking for checksums stored next to the data they
// cover.
//
// Example:
//   uint32_t crc = Crc32c("123456789");            // 0xE3069283
//   crc = ExtendCrc32c(Crc32c("1234"), "56789");   // the same value
//   uint32_t stored = MaskCrc(crc);                // what goes on disk
//   assert(UnmaskCrc(stored) == crc);
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time) and a table-driven (slicing-by-8) implementation otherwise.
#ifndef CONTINUUM_LIB_STORE_CRC32C_H_
#define CONTINUUM_LIB_STORE_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace continuum::store {

// Returns the CRC-32C of `data`, extending `crc`, the CRC-32C of some
// preceding bytes: ExtendCrc32c(Crc32c(a), b) == Crc32c(a + b).
uint32_t ExtendCrc32c(uint32_t crc, absl::string_view data);

// Returns the CRC-32C of `data`. Crc32c("") == 0.
inline uint32_t Crc32c(absl::string_view data) { return ExtendCrc32c(0, data); }

// Returns a masked form of `crc` to store on disk. Computing the CRC of a
// string that itself holds CRCs is problematic (LevelDB util/crc32c.h), so
// stored checksums are rotated and offset.
uint32_t MaskCrc(uint32_t crc);

// Returns the CRC whose masked form is `masked_crc`: UnmaskCrc(MaskCrc(c)) ==
// c.
uint32_t UnmaskCrc(uint32_t masked_crc);

namespace crc32c_internal {

// The table-driven implementation (any CPU).
uint32_t ExtendPortable(uint32_t crc, const char* data, size_t n);

// True if this CPU has SSE4.2 and ExtendSse42 may be called.
bool CanUseSse42();

// The SSE4.2 implementation; call only if CanUseSse42(). On CPUs other than
// x86 it is the portable one.
uint32_t ExtendSse42(uint32_t crc, const char* data, size_t n);

}  // namespace crc32c_internal
}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_CRC32C_H_
