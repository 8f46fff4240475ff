#include "tensortier/status.hpp"

namespace tensortier {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_supported: return "not_supported";
    case Errc::no_space: return "no_space";
    case Errc::io_error: return "io_error";
    case Errc::not_found: return "not_found";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

}  // namespace tensortier
