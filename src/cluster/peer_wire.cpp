// The peer channel's frames and messages (see peer_wire.h).
#include "cluster/peer_wire.h"

#include <cctype>

#include "cluster/forwarded.h"

namespace tether::peer {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

bool get_u32(std::string_view& in, uint32_t* v) {
  if (in.size() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v = (*v << 8) | static_cast<uint8_t>(in[i]);
  in.remove_prefix(4);
  return true;
}

void put_text(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

bool get_text(std::string_view& in, std::string* s) {
  uint32_t n = 0;
  if (!get_u32(in, &n) || in.size() < n) return false;
  s->assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

void put_pairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& pairs) {
  put_u32(out, static_cast<uint32_t>(pairs.size()));
  for (const auto& [k, v] : pairs) {
    put_text(out, k);
    put_text(out, v);
  }
}

// Pairs of at most max_bytes in all (names and values).
bool get_pairs(std::string_view& in, int64_t max_bytes, std::vector<std::pair<std::string, std::string>>* pairs) {
  uint32_t n = 0;
  if (!get_u32(in, &n) || n > in.size() / 8) return false;  // each pair takes 8 bytes at least
  int64_t total = 0;
  pairs->reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!get_text(in, &k) || !get_text(in, &v)) return false;
    total += static_cast<int64_t>(k.size() + v.size());
    if (total > max_bytes) return false;
    pairs->emplace_back(std::move(k), std::move(v));
  }
  return true;
}

}  // namespace

bool write_frame(int fd, std::string_view data, net::Clock::time_point deadline) {
  std::string wire;
  wire.reserve(4 + data.size());
  put_u32(wire, static_cast<uint32_t>(data.size()));
  wire += data;
  return net::write_all(fd, wire, deadline);
}

FrameStatus read_frame(int fd, std::string* out, size_t max, net::Clock::time_point first_byte,
                       net::Clock::time_point deadline) {
  char head[4];
  net::ReadStatus s = net::read_exact(fd, head, 1, first_byte);
  if (s == net::ReadStatus::Ok) s = net::read_exact(fd, head + 1, 3, deadline);
  if (s == net::ReadStatus::Closed) return FrameStatus::Closed;
  if (s == net::ReadStatus::Timeout) return FrameStatus::Timeout;
  if (s != net::ReadStatus::Ok) return FrameStatus::Broken;
  std::string_view hv(head, 4);
  uint32_t n = 0;
  get_u32(hv, &n);
  if (n > max) return FrameStatus::TooLarge;
  out->resize(n);
  s = net::read_exact(fd, out->data(), n, deadline);
  if (s == net::ReadStatus::Ok) return FrameStatus::Ok;
  return s == net::ReadStatus::Timeout ? FrameStatus::Timeout : FrameStatus::Broken;
}

Params request_params(const Request& req, const std::string& reason) {
  Params p;
  p.emplace_back("REQUEST_METHOD", req.method);
  p.emplace_back("REQUEST_URI", req.query.empty() ? req.path : req.path + "?" + req.query);
  p.emplace_back("DOCUMENT_URI", req.path);
  p.emplace_back("QUERY_STRING", req.query);
  p.emplace_back("CONTENT_LENGTH", std::to_string(req.body.size()));
  p.emplace_back("REMOTE_ADDR", req.remote_addr);
  if (req.https) p.emplace_back("HTTPS", "on");
  for (const auto& [name, value] : req.headers) {
    if (name == "content-length") continue;
    if (name == "content-type") {
      p.emplace_back("CONTENT_TYPE", value);
      continue;
    }
    std::string param = "HTTP_";
    for (char c : name) param.push_back(c == '-' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(c))));
    p.emplace_back(std::move(param), value);
  }
  if (!reason.empty()) p.emplace_back(kPeerReasonParam, reason);
  return p;
}

std::string encode_request(const Params& params, std::string_view body) {
  std::string out(1, 'Q');
  put_pairs(out, params);
  out += body;
  return out;
}

bool decode_request(std::string_view text, int64_t max_params_bytes, Params* params, std::string* body) {
  if (text.empty() || text[0] != 'Q') return false;
  text.remove_prefix(1);
  if (!get_pairs(text, max_params_bytes, params)) return false;
  body->assign(text);
  return true;
}

std::string encode_reply(const Response& resp) {
  std::string out(1, kReply);
  uint16_t status = resp.status >= 100 && resp.status <= 599 ? static_cast<uint16_t>(resp.status) : 500;
  out.push_back(static_cast<char>(status >> 8));
  out.push_back(static_cast<char>(status & 0xff));
  put_pairs(out, resp.headers);
  out += resp.body;
  return out;
}

bool decode_reply(std::string_view text, Response* resp) {
  if (text.size() < 3 || text[0] != kReply) return false;
  int status = (static_cast<uint8_t>(text[1]) << 8) | static_cast<uint8_t>(text[2]);
  if (status < 100 || status > 599) return false;
  text.remove_prefix(3);
  Response r;
  r.status = status;
  if (!get_pairs(text, INT64_MAX, &r.headers)) return false;
  r.body.assign(text);
  *resp = std::move(r);
  return true;
}

}  // namespace tether::peer
