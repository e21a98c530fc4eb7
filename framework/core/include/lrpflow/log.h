// Logging to stderr, with four levels and one optional live status line.
//
// Messages go to stderr as "error: ...", "warning: ...", plain text (info) or "debug: ...".
// The default level is Info; `-v` selects Debug, `-q` Warn (warnings and errors only).
// The status line (the run's progress) is redrawn in place on a terminal: a message printed while
// it is shown erases it first and draws it again afterwards, so the two never interleave.
//
// Thread safety: every function may be called from any thread; output is serialised.
#pragma once

#include <string>
#include <string_view>

namespace lrpflow {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
bool log_enabled(LogLevel level);

// Prints one message (a trailing newline is added) when `level` is enabled.
void log_message(LogLevel level, std::string_view message);
inline void log_error(std::string_view message) { log_message(LogLevel::Error, message); }
inline void log_warn(std::string_view message) { log_message(LogLevel::Warn, message); }
inline void log_info(std::string_view message) { log_message(LogLevel::Info, message); }
inline void log_debug(std::string_view message) { log_message(LogLevel::Debug, message); }

// Shows `line` as the live status line (replacing the previous one); only call when stderr is a
// terminal. clear_status_line() removes it for good (before the final summary).
void set_status_line(std::string line);
void clear_status_line();

}  // namespace lrpflow
