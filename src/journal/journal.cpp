// The local append-only journal (see journal.h).
#include "journal/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "journal/files.h"
#include "journal/line.h"

namespace tether::journal {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + strerror(errno); }

// Takes uri, priority and key_start_date out of the app's fields.
Status fill_entry(Entry& e, const nlohmann::json& fields) {
  if (fields.is_null()) return Status::ok();  // append(domain, {}): no fields
  if (!fields.is_object()) return Status::error("fields: expected a JSON object, got " + json_text(fields).substr(0, 80));
  e.fields = fields;
  if (auto it = e.fields.find("uri"); it != e.fields.end()) {
    if (!it->is_string()) return Status::error("uri: expected a string");
    e.uri = it->get<std::string>();
    e.fields.erase(it);
  }
  if (auto it = e.fields.find("priority"); it != e.fields.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxPriority) {
      return Status::error("priority: expected an integer from 0 to 255, got " + it->dump());
    }
    e.priority = it->get<int>();
    e.fields.erase(it);
  }
  if (auto it = e.fields.find("key_start_date"); it != e.fields.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return Status::error("key_start_date: expected µs since the Unix epoch, got " + it->dump());
    }
    e.key_start_date = it->get<int64_t>();
    e.fields.erase(it);
  }
  return Status::ok();
}

}  // namespace

Journal::Journal(JournalOptions opts, std::string source, JournalStats& stats)
    : opts_(std::move(opts)), source_(std::move(source)), stats_(stats) {}

Result<std::unique_ptr<Journal>> Journal::open(const JournalOptions& opts, const std::string& route,
                                               JournalStats& stats) {
  using R = Result<std::unique_ptr<Journal>>;
  if (Status s = make_dirs(opts.dir); !s) return s;
  JournalOptions o = opts;
  if (!o.now_us) o.now_us = wall_us;
  if (!o.fdatasync) o.fdatasync = [](int fd) { return ::fdatasync(fd); };
  std::unique_ptr<Journal> j(new Journal(o, route + "." + std::to_string(o.now_us()), stats));
  j->lock_fd_.reset(::open((o.dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!j->lock_fd_) return R::error(sys_error("journal: open " + o.dir + "/lock"));
  if (::flock(j->lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    return R::error("journal: " + o.dir + " is in use by another process (two workers with one host and number?)");
  }
  {
    std::lock_guard<std::mutex> lock(j->mu_);
    j->next_file_seq_ = next_file_seq(o.dir);  // after the lock: nobody else names files here
    if (Status s = j->open_file_locked(o.now_us() / 1000000 / o.rollover_s * o.rollover_s); !s) return s;
  }
  if (o.fsync == Fsync::Batch) {
    j->syncer_ = std::thread([p = j.get()] {
      if (!firewall::guard("journal.syncer", [p] { p->sync_loop(); })) {
        firewall::thread_stopped("journal.syncer", "batched fsync stopped; appends go on without it");
      }
    });
  }
  return j;
}

Journal::~Journal() { stop(); }  // then fd_ closes, then lock_fd_ (member order)

Status Journal::open_file_locked(int64_t period_s) {
  if (fd_) {
    if (opts_.fsync != Fsync::None && dirty_ && opts_.fdatasync(fd_.get()) != 0) {
      fail_locked(sys_error("fdatasync " + file_));
    }
    fd_.reset();
  }
  std::string name = file_name(next_file_seq_, period_s, std::stoll(source_.substr(source_.rfind('.') + 1)));
  unique_fd fd(::open((opts_.dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) return Status::error(sys_error("journal: open " + opts_.dir + "/" + name));
  if (opts_.fsync != Fsync::None) {
    if (Status s = fsync_dir(opts_.dir); !s) return s;
  }
  next_file_seq_++;
  fd_ = std::move(fd);
  file_ = name;
  period_s_ = period_s;
  offset_ = static_cast<uint64_t>(::lseek(fd_.get(), 0, SEEK_END));
  dirty_ = false;
  return Status::ok();
}

void Journal::fail_locked(const std::string& what) {
  stats_.fsync_errors++;
  if (!failed_.empty()) return;
  failed_ = what;
  stats_.failed = true;
  log::error("journal_failed", {{"error", what},
                                {"fsync", to_string(opts_.fsync)},
                                {"effect", "every append fails until the worker restarts; entries written since "
                                           "the last good fsync may be lost"}});
}

Status Journal::write_locked(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = sys_error("write " + file_);
      void_tail_locked();
      return Status::error(why);
    }
    done += static_cast<size_t>(n);
  }
  dirty_ = true;
  if (opts_.fsync == Fsync::Always) {
    if (opts_.fdatasync(fd_.get()) != 0) {
      fail_locked(sys_error("fdatasync " + file_));
      void_tail_locked();  // the append fails: the line must never ship
      return Status::error("journal: " + failed_);
    }
    stats_.fsyncs++;
    dirty_ = false;
  }
  offset_ += line.size();  // acknowledged: the shipper may read it now
  return Status::ok();
}

void Journal::void_tail_locked() {
  if (::ftruncate(fd_.get(), static_cast<off_t>(offset_)) == 0) return;
  std::string why = sys_error("ftruncate " + file_);
  // Cannot cut it off: spoil its checksum so that every reader skips it. A
  // descriptor without O_APPEND, for pwrite(2) to write where it is told.
  unique_fd fd(::open((opts_.dir + "/" + file_).c_str(), O_WRONLY | O_CLOEXEC));
  bool voided = fd && ::pwrite(fd.get(), "--void--", 8, static_cast<off_t>(offset_)) == 8;
  fd.reset();
  fail_locked(why);
  log::error("journal_tail_not_removed", {{"file", file_}, {"offset", offset_}, {"error", why},
                                          {"effect", voided ? "the failed line is marked void and skipped as corrupt"
                                                            : "the failed line could not be voided either; the "
                                                              "shipper of this run will not ship it, a later run may"}});
}

Result<std::string> Journal::append(std::string_view domain, const nlohmann::json& fields) {
  Entry e;
  Status s = check_domain(domain);
  e.domain = std::string(domain);
  if (s) s = fill_entry(e, fields);
  if (!s) {
    stats_.append_errors++;
    return Status::error("journal append: " + s.message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!failed_.empty() || stopping_) {
    stats_.append_errors++;
    return Status::error("journal append: " + (stopping_ ? std::string("the journal is stopped") : failed_));
  }
  int64_t now = opts_.now_us();
  e.time_us = std::max(now, last_time_us_ + 1);
  if (e.key_start_date == 0) e.key_start_date = e.time_us;
  e.src = source_;
  e.seq = seq_ + 1;
  std::string line = encode_line(e);
  if (line.size() > kMaxLineBytes) {
    stats_.append_errors++;
    return Status::error("journal append: entry larger than 1 MiB");
  }
  int64_t period = now / 1000000 / opts_.rollover_s * opts_.rollover_s;
  if (period > period_s_) {
    if (Status o = open_file_locked(period); !o) {
      stats_.append_errors++;
      return o;
    }
  }
  if (Status w = write_locked(line); !w) {
    stats_.append_errors++;
    log::error("append_failed", {{"file", file_}, {"error", w.message()}});
    return w;
  }
  seq_ = e.seq;
  last_time_us_ = e.time_us;
  stats_.appended++;
  appended_cv_.notify_one();
  return e.id();
}

void Journal::sync_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    sync_cv_.wait_for(lock, std::chrono::milliseconds(opts_.fsync_interval_ms), [&] { return stopping_; });
    if (!dirty_ || !fd_ || !failed_.empty()) continue;
    // Group commit: appends go on while this fsync runs (on a copy of the fd,
    // so a rollover may close the original meanwhile).
    unique_fd fd(::dup(fd_.get()));
    std::string file = file_;
    dirty_ = false;
    lock.unlock();
    int rc = fd ? opts_.fdatasync(fd.get()) : -1;
    std::string why = rc == 0 ? "" : sys_error("fdatasync " + file);
    fd.reset();
    lock.lock();
    if (rc == 0) stats_.fsyncs++;
    else fail_locked(why);
  }
}

void Journal::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  sync_cv_.notify_all();
  appended_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_) {
    if (dirty_ && failed_.empty() && opts_.fdatasync(fd_.get()) != 0) fail_locked(sys_error("fdatasync " + file_));
    fd_.reset();
  }
}

std::string Journal::current_file() const {
  std::lock_guard<std::mutex> lock(mu_);
  return file_;
}

Checkpoint Journal::committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Checkpoint{file_, offset_};
}

uint64_t Journal::wait_appended(uint64_t seen, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  appended_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return stopping_ || stats_.appended.load() > seen; });
  return stats_.appended.load();
}

}  // namespace tether::journal
