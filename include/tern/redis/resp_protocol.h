// RespProtocol: RESP as a client protocol for Pipeline<C> (tern/protocol/pipeline.h). One
// object per connection: commands out (Command::encode), replies in (RespParser), matched to
// the commands in order by the pipeline. RESP3 push frames (pub/sub messages, client-side
// caching invalidations) answer no command: they are consumed here, handed to on_push, and
// never reach the pipeline's matching.
//
// Thread rule: the connection's (Pipeline's) thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "tern/protocol/protocol.h"
#include "tern/redis/command.h"
#include "tern/redis/resp.h"
#include "tern/redis/resp_parser.h"

namespace tern::redis {

struct RespProtocolOptions {
  RespLimits limits;
  std::function<void(const Value&)> on_push;  // RESP3 push frames (never matched to a
                                              // command); empty: dropped
};

class RespProtocol {
 public:
  using Request = Command;
  using Response = Value;   // views into the connection's input: valid in the callback
  using Options = RespProtocolOptions;

  // Keeps a reference to `options` (the pipeline keeps them for its lifetime).
  explicit RespProtocol(const Options& options);

  void encode_request(Command&& command, Output& out);
  // Push frames skipped (consumed, passed to on_push) before the reply; a reply's consumed
  // counts the pushes before it. Pushes with no reply after them yet: need_more (they are not
  // passed twice when the same bytes come again).
  Decoded<Value> decode_response(std::string_view input);

 private:
  const Options& options_;
  RespParser parser_;
  size_t pushes_ = 0;          // bytes of push frames at the start of the input, already passed on
  bool message_done_ = false;  // the parser holds the last reply: reset before the next
};

}  // namespace tern::redis
