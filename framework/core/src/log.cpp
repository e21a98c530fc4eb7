#include "lrpflow/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace lrpflow {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::mutex g_stderr_mutex;
std::string g_status_line;  // guarded by g_stderr_mutex; empty: none shown

// "\r\033[K": back to column 0 and erase to the end of the line.
void erase_status_locked() {
  if (!g_status_line.empty()) std::fputs("\r\033[K", stderr);
}
void draw_status_locked() {
  if (!g_status_line.empty()) std::fputs(g_status_line.c_str(), stderr);
}

const char* prefix_of(LogLevel level) {
  switch (level) {
    case LogLevel::Error: return "error: ";
    case LogLevel::Warn: return "warning: ";
    case LogLevel::Info: return "";
    case LogLevel::Debug: return "debug: ";
  }
  return "";
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }
bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(); }

void log_message(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  erase_status_locked();
  std::fprintf(stderr, "%s%.*s\n", prefix_of(level), static_cast<int>(message.size()), message.data());
  draw_status_locked();
  std::fflush(stderr);
}

void set_status_line(std::string line) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  erase_status_locked();
  g_status_line = std::move(line);
  draw_status_locked();
  std::fflush(stderr);
}

void clear_status_line() {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  erase_status_locked();
  g_status_line.clear();
  std::fflush(stderr);
}

}  // namespace lrpflow
