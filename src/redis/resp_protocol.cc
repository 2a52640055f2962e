// RespProtocol: commands out, replies in, push frames aside.
#include "tern/redis/resp_protocol.h"

namespace tern::redis {

RespProtocol::RespProtocol(const Options& options)
    : options_(options), parser_(options_.limits) {}

void RespProtocol::encode_request(Command&& command, Output& out) { command.encode(out); }

// The parser keeps the last reply (its element storage) until the next one starts: the
// pipeline's callback reads it in between.
Decoded<Value> RespProtocol::decode_response(std::string_view input) {
  if (message_done_) {
    parser_.reset();
    message_done_ = false;
  }
  for (;;) {
    Decoded<Value> decoded = parser_.parse(input.substr(pushes_));
    if (decoded.status != Decoded<Value>::Status::message) return decoded;
    if (decoded.request.type != Type::push) {
      decoded.consumed += pushes_;
      pushes_ = 0;
      message_done_ = true;
      return decoded;
    }
    if (options_.on_push) options_.on_push(decoded.request);
    pushes_ += decoded.consumed;
    parser_.reset();
  }
}

}  // namespace tern::redis
