// notes-recent: the demo's journal consumer. It takes the "notes" domain's
// entries (written when a note is added or deleted, see apps/demo/notes.cpp)
// in order and keeps a "recently changed" list in Redis: {prefix}demo:recent,
// newest first, at most 20 entries, each {"uri", "change", "text", "time"}.
// An entry is removed from the journal list only once it is in that list.
//   notes-recent [--config tether.json] [--once]
//   redis-cli LRANGE tether:demo:recent 0 -1
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "config/config.h"
#include "journal/consumer.h"

int main(int argc, char** argv) {
  std::string config_path = getenv("TETHER_CONFIG") ? getenv("TETHER_CONFIG") : "tether.json";
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config_path = argv[++i];
    else if (strcmp(argv[i], "--once") == 0) once = true;
    else {
      fprintf(stderr, "usage: notes-recent [--config FILE] [--once]\n");
      return 2;
    }
  }
  auto config = tether::load_config(config_path);
  if (!config || !config->registry) {
    fprintf(stderr, "notes-recent: %s\n", config ? "the config has no \"redis\" object" : config.message().c_str());
    return 2;
  }
  tether::Redis redis(config->redis), out(config->redis);
  const std::string key = config->redis.prefix + "demo:recent";
  tether::journal::Consumer consumer(redis, "notes", {.batch = 100, .lease_ms = 10000});
  auto remember = [&](const tether::journal::Entry& e) {
    nlohmann::json item = {{"uri", e.uri}, {"change", e.fields.value("change", "")},
                           {"text", e.fields.value("text", "")}, {"time", e.time_us / 1000}};
    out.append({"LPUSH", key, item.dump()});
    out.append({"LTRIM", key, "0", "19"});
    auto r = out.flush();
    return r && (*r)[0]->type == REDIS_REPLY_INTEGER;
  };
  for (;;) {
    auto r = consumer.run_once(remember);
    if (!r) {
      fprintf(stderr, "notes-recent: %s\n", r.message().c_str());
      if (once) return 1;
    } else if (r->done > 0) {
      printf("notes-recent: %zu change(s) recorded\n", r->done);
      fflush(stdout);
      continue;
    } else if (once) {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing to take: poll again
  }
}
