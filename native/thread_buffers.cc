#include "thread_buffers.h"

#include <cstring>

#include "socket_io.h"

namespace wslay_node {

bool ThreadBuffers::NextMask(uint8_t* out, size_t len) {
  if (len > sizeof mask_pool_) return FillRandom(out, len);
  if (sizeof mask_pool_ - mask_used_ < len) {
    if (!FillRandom(mask_pool_, sizeof mask_pool_)) return false;
    mask_used_ = 0;
  }
  std::memcpy(out, mask_pool_ + mask_used_, len);
  std::memset(mask_pool_ + mask_used_, 0, len);  // never hand out the same bytes twice
  mask_used_ += len;
  return true;
}

}  // namespace wslay_node
