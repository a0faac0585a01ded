// The peer channel's framing and messages (the bytes; peer_crypto.h seals
// them). A frame is a 4-byte big-endian length and that many bytes; the
// handshake's two frames are in clear (their content is sealed), every
// later frame is one sealed message:
//   client -> server  'Q' | u32 n | n × (u32 len, name, u32 len, value) | body
//                     a request: its params, as nginx would send them, and body
//   server -> client  'A'                        the server took the request
//                     'R' | u16 status | u32 n | n × (name, value) | body
// One request at a time per connection; a connection is kept for the next.
// Thread ownership: pure functions; an fd belongs to its caller.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"
#include "tether/request.h"
#include "tether/response.h"

namespace tether::peer {

using Params = std::vector<std::pair<std::string, std::string>>;

// Writes one frame.
bool write_frame(int fd, std::string_view data, net::Clock::time_point deadline);
// Reads one frame of at most max bytes. The first byte must come before
// first_byte; the rest before deadline.
enum class FrameStatus { Ok, Closed, Timeout, TooLarge, Broken };
FrameStatus read_frame(int fd, std::string* out, size_t max, net::Clock::time_point first_byte,
                       net::Clock::time_point deadline);

// The params of req as nginx would have sent them, plus the reason a new
// session is needed (kPeerReasonParam) when there is one.
Params request_params(const Request& req, const std::string& reason);
std::string encode_request(const Params& params, std::string_view body);
// False when text is not a whole request, or its params (names and values)
// pass max_params_bytes.
bool decode_request(std::string_view text, int64_t max_params_bytes, Params* params, std::string* body);

inline constexpr char kAck = 'A';
inline constexpr char kReply = 'R';
std::string encode_reply(const Response& resp);
// False when text is not a whole reply.
bool decode_reply(std::string_view text, Response* resp);

}  // namespace tether::peer
