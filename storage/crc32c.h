// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum of every WAL
// record, of HashKV, of snapshot files and manifests, and of peer messages. Uses the SSE4.2
// crc32 instruction when the CPU has it, a slicing-by-8 table otherwise; both give the same
// value. Thread-safe, no allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace kvd::storage {

// The CRC32C of data, continuing from crc (the CRC32C of the bytes before data; 0 to start).
// Crc32c(Crc32c(0, a), b) == Crc32c(0, a + b).
uint32_t Crc32c(uint32_t crc, std::string_view data);

inline uint32_t Crc32c(std::string_view data) { return Crc32c(0, data); }

// The portable implementation, exposed so tests can compare it with the hardware one.
uint32_t Crc32cPortable(uint32_t crc, std::string_view data);

// Whether Crc32c uses the SSE4.2 instruction on this machine.
bool Crc32cIsHardwareAccelerated();

}  // namespace kvd::storage
