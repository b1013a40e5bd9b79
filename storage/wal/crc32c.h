// Forwarding header: the CRC32C lives in storage/crc32c.h (kvd::storage::Crc32c). Kept so that
// code outside storage/ that still includes this header and calls wal::Crc32c builds; new code
// includes storage/crc32c.h.
#pragma once

#include "storage/crc32c.h"

namespace kvd::wal {

using storage::Crc32c;

}  // namespace kvd::wal
