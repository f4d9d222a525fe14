#include "petrel/status.h"

namespace petrel {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::ok: return "OK";
    case StatusCode::invalid_argument: return "ERR_INVALID_ARGUMENT";
    case StatusCode::io_error: return "ERR_IO";
    case StatusCode::corrupt_file: return "ERR_CORRUPT_FILE";
    case StatusCode::unsupported: return "ERR_UNSUPPORTED";
    case StatusCode::out_of_memory: return "ERR_OUT_OF_MEMORY";
    case StatusCode::disk_full: return "ERR_DISK_FULL";
  }
  return "ERR_UNKNOWN";
}

}  // namespace petrel
