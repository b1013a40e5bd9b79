// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected), the checksum of HashKV and of snapshot
// manifests. Extend(0, data) is the CRC of data; Extend(Extend(0, a), b) == Extend(0, a + b).
#pragma once

#include <cstdint>
#include <string_view>

namespace kvd::mvcc::crc32c {

uint32_t Extend(uint32_t crc, std::string_view data);
inline uint32_t Value(std::string_view data) { return Extend(0, data); }

}  // namespace kvd::mvcc::crc32c
