#include <string>

#include "tern/base/logging.h"
#include "tern/protocol/session.h"

namespace tern {

void log_session_closing(const std::string& peer, const char* why) {
  log(LogLevel::warn, "closing %s: %s", peer.c_str(), why);
}

}  // namespace tern
