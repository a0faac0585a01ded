// The typed reply reader (see reply.h).
#include "redis/reply.h"

#include "redis/redis.h"

#include <charconv>

namespace tether {

bool ReplyView::is_nil() const { return r_ == nullptr || r_->type == REDIS_REPLY_NIL; }
bool ReplyView::is_array() const { return r_ != nullptr && r_->type == REDIS_REPLY_ARRAY; }
bool ReplyView::is_string() const {
  return r_ != nullptr && (r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS);
}
bool ReplyView::is_bulk() const { return r_ != nullptr && r_->type == REDIS_REPLY_STRING; }
bool ReplyView::is_integer() const { return r_ != nullptr && r_->type == REDIS_REPLY_INTEGER; }
bool ReplyView::is_error() const { return r_ != nullptr && r_->type == REDIS_REPLY_ERROR; }

std::string ReplyView::describe() const {
  if (r_ == nullptr) return "nothing";
  switch (r_->type) {
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STRING:
      return "a string";
    case REDIS_REPLY_STATUS:
      return "a status";
    case REDIS_REPLY_INTEGER:
      return "an integer";
    case REDIS_REPLY_ERROR:
      return "an error";
    case REDIS_REPLY_ARRAY:
      return "an array of " + std::to_string(r_->elements);
    default:
      return "a reply of type " + std::to_string(r_->type);
  }
}

size_t ReplyView::size() const { return is_array() && r_->element != nullptr ? r_->elements : 0; }

ReplyView ReplyView::at(size_t i) const {
  if (i >= size()) return ReplyView();
  return ReplyView(r_->element[i]);
}

std::optional<std::string_view> ReplyView::text_view() const {
  if (!is_string()) return std::nullopt;
  return std::string_view(r_->str, r_->len);
}

Result<std::string> ReplyView::text() const {
  if (!is_string()) return Result<std::string>::error("expected a string, got " + describe());
  return std::string(r_->str, r_->len);
}

Result<std::string> ReplyView::bulk() const {
  if (!is_bulk()) return Result<std::string>::error("expected a bulk string, got " + describe());
  return std::string(r_->str, r_->len);
}

Result<long long> ReplyView::integer() const {
  if (!is_integer()) return Result<long long>::error("expected an integer, got " + describe());
  return r_->integer;
}

Result<long long> ReplyView::number() const {
  if (is_integer()) return r_->integer;
  if (!is_bulk()) return Result<long long>::error("expected a number, got " + describe());
  long long v = 0;
  const char* end = r_->str + r_->len;
  auto [p, ec] = std::from_chars(r_->str, end, v);
  if (r_->len == 0 || ec != std::errc() || p != end) {
    return Result<long long>::error("expected a number, got a string that is not one");
  }
  return v;
}

Result<ReplyView> ReplyView::array(size_t n) const {
  if (!is_array() || r_->elements != n) {
    return Result<ReplyView>::error("expected an array of " + std::to_string(n) + ", got " + describe());
  }
  return *this;
}

Result<ReplyView> ReplyView::array() const {
  if (!is_array()) return Result<ReplyView>::error("expected an array, got " + describe());
  return *this;
}

Result<ReplyView> ReplyView::pairs() const {
  if (!is_array() || r_->elements % 2 != 0) {
    return Result<ReplyView>::error("expected field and value pairs, got " + describe());
  }
  return *this;
}

Result<std::vector<std::string>> ReplyView::strings() const {
  using R = Result<std::vector<std::string>>;
  if (!is_array()) return R::error("expected an array of strings, got " + describe());
  std::vector<std::string> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) {
    auto s = at(i).text();
    if (!s) return R::error("element " + std::to_string(i) + ": " + s.message());
    out.push_back(std::move(s.value()));
  }
  return out;
}

std::string ReplyView::error_text() const { return is_error() ? std::string(r_->str, r_->len) : std::string(); }

Result<ScanPage> decode_scan(ReplyView reply) {
  using R = Result<ScanPage>;
  auto a = reply.array(2);
  if (!a) return R::error("SCAN: " + a.message());
  auto cursor = reply[0].text();
  if (!cursor) return R::error("SCAN: the cursor: " + cursor.message());
  auto keys = reply[1].strings();
  if (!keys) return R::error("SCAN: the keys: " + keys.message());
  return ScanPage{std::move(cursor.value()), std::move(keys.value())};
}

Result<std::vector<std::string>> load_scripts(Redis& redis, const std::vector<const char*>& scripts) {
  using R = Result<std::vector<std::string>>;
  for (const char* script : scripts) redis.append({"SCRIPT", "LOAD", script});
  auto replies = redis.flush();
  if (!replies) return R::error(replies.message());
  if (Status n = expect_replies(*replies, scripts.size()); !n) return R::error("SCRIPT LOAD: " + n.message());
  std::vector<std::string> shas;
  for (const auto& r : *replies) {
    auto sha = ReplyView(r.get()).bulk();
    if (!sha) return R::error("SCRIPT LOAD refused: " + reply_string(r.get()));
    shas.push_back(*sha);
  }
  return shas;
}

Result<long long> wait_replicas(Redis& redis, int want, int timeout_ms) {
  auto r = redis.command({"WAIT", std::to_string(want), std::to_string(timeout_ms)});
  if (!r) return Result<long long>::error(r.message());
  auto n = ReplyView(r->get()).integer();
  return n ? *n : -1;
}

}  // namespace tether
