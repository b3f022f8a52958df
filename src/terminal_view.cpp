#include "terminal_view.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace wf {

namespace {

constexpr const char* kSpinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr int kSpinnerFrames = sizeof kSpinner / sizeof kSpinner[0];

// East Asian wide and emoji ranges: enough to keep the area from wrapping on names that
// carry them (matrix values), without a locale.
bool is_wide(std::uint32_t c) {
  return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF && c != 0x303F) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
         (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1FAFF) || (c >= 0x20000 && c <= 0x3FFFD);
}

// One visible unit of a string: an escape sequence (zero columns) or one UTF-8 code point.
struct Piece {
  std::size_t len = 1;
  int cols = 0;
};

Piece next_piece(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b == 0x1b) {
    std::size_t j = i + 1;
    if (j < s.size() && s[j] == '[') {
      ++j;
      while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
      return {std::min(j + 1, s.size()) - i, 0};
    }
    return {std::min(i + 2, s.size()) - i, 0};
  }
  if (b < 0x20 || b == 0x7f) return {1, 0};
  if (b < 0x80) return {1, 1};
  std::size_t n = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  if (i + n > s.size()) n = s.size() - i;
  std::uint32_t c = n == 1 ? b : b & (0x7f >> n);
  for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return {n, is_wide(c) ? 2 : 1};
}

}  // namespace

TermSize terminal_size(std::FILE* out) {
  TermSize size;
  struct winsize ws {};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    size.cols = ws.ws_col;
    size.rows = ws.ws_row;
  }
  return size;
}

int display_width(std::string_view s) {
  int cols = 0;
  for (std::size_t i = 0; i < s.size();) {
    Piece p = next_piece(s, i);
    cols += p.cols;
    i += p.len;
  }
  return cols;
}

std::string fit_to_width(std::string_view s, int cols) {
  if (display_width(s) <= cols) return std::string(s);
  if (cols <= 0) return "";
  std::string out;
  bool escapes = false;
  int used = 0;
  for (std::size_t i = 0; i < s.size();) {
    Piece p = next_piece(s, i);
    if (p.cols == 0) {
      escapes = escapes || s[i] == 0x1b;
    } else if (used + p.cols > cols - 1) {
      break;
    }
    out.append(s.substr(i, p.len));
    used += p.cols;
    i += p.len;
  }
  out += "…";
  if (escapes) out += "\033[0m";
  return out;
}

std::string printable(std::string_view line) {
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (auto cr = line.rfind('\r'); cr != std::string_view::npos) line.remove_prefix(cr + 1);
  std::string out;
  bool coloured = false;
  for (std::size_t i = 0; i < line.size();) {
    auto b = static_cast<unsigned char>(line[i]);
    if (b == 0x1b) {
      Piece p = next_piece(line, i);
      if (p.len >= 3 && line[i + 1] == '[' && line[i + p.len - 1] == 'm') {
        out.append(line.substr(i, p.len));
        coloured = true;
      } else if (i + 1 < line.size() && line[i + 1] == ']') {
        // OSC (titles, hyperlinks): up to BEL or ESC backslash.
        std::size_t end = line.find_first_of("\a\033", i + 2);
        p.len = end == std::string_view::npos ? line.size() - i : end - i + (line[end] == '\a' ? 1 : 2);
        p.len = std::min(p.len, line.size() - i);
      }
      i += p.len;
      continue;
    }
    if ((b < 0x20 && b != '\t') || b == 0x7f) {
      ++i;
      continue;
    }
    out += line[i++];
  }
  if (coloured) out += "\033[0m";
  return out;
}

std::string elapsed_text(double s) {
  char buf[32];
  if (s < 0) s = 0;
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
  return buf;
}

std::vector<std::string> layout_live_area(const std::vector<LiveStage>& running, const LiveCounts& counts,
                                          TermSize size, int frame, bool color) {
  std::vector<std::string> lines;
  if (size.rows < 2) return lines;
  const int width = std::max(1, size.cols - 1);  // the last column would leave the cursor pending a wrap
  const char* dim = color ? "\033[90m" : "";
  const char* reset = color ? "\033[0m" : "";

  const int n = static_cast<int>(running.size());
  int shown = 0;
  if (size.rows >= 4) {
    const int max_lines = std::max(0, size.rows - 5);
    shown = n <= max_lines + 1 ? n : max_lines;  // a "more" line for one would take its place
  }

  const std::string spin = std::string(color ? "\033[36m" : "") + kSpinner[((frame % kSpinnerFrames) + kSpinnerFrames) % kSpinnerFrames] + reset;
  int longest = 0;
  for (int i = 0; i < shown; ++i) longest = std::max(longest, display_width(running[i].name));
  for (int i = 0; i < shown; ++i) {
    std::string time = elapsed_text(running[i].seconds);
    // "  ⠋ " + name + "  " + time, the name cut first so the time stays in view.
    int name_cols = std::min(longest, width - 4 - 2 - display_width(time));
    std::string line = "  " + spin + " ";
    if (name_cols > 0) {
      std::string name = fit_to_width(running[i].name, name_cols);
      line += name + std::string(static_cast<std::size_t>(name_cols - display_width(name)), ' ');
    }
    line += "  " + std::string(dim) + time + reset;
    lines.push_back(fit_to_width(line, width));
  }
  if (shown < n && size.rows >= 4) lines.push_back(fit_to_width("  " + std::string(dim) + "… and " + std::to_string(n - shown) + " more running" + reset, width));

  std::string tally = "  " + std::to_string(counts.running) + " running, " + std::to_string(counts.done) + " done";
  if (counts.failed > 0) tally += std::string(", ") + (color ? "\033[31m" : "") + std::to_string(counts.failed) + " failed" + reset;
  tally += std::string("  ") + dim + elapsed_text(counts.seconds) + reset;
  lines.push_back(fit_to_width(tally, width));
  return lines;
}

TerminalView::~TerminalView() {
  if (!drawn_widths_.empty() || !queued_.empty()) clear(terminal_size(out_).cols);
}

void TerminalView::print(std::string_view line) {
  queued_.append(line);
  queued_ += '\n';
}

std::string TerminalView::erase_sequence(int cols) const {
  if (drawn_widths_.empty()) return "";
  // The cursor sits at the start of the line below the area. A terminal that got narrower
  // since the area was drawn may have rewrapped its lines (tmux, VTE do): count those rows.
  int up = 0;
  for (int w : drawn_widths_) up += cols > 0 && w > cols ? (w + cols - 1) / cols : 1;
  return "\r\033[" + std::to_string(up) + "A\033[J";
}

void TerminalView::show(const std::vector<std::string>& area, int cols) {
  std::string buf = erase_sequence(cols);
  buf += queued_;
  queued_.clear();
  drawn_widths_.clear();
  for (const auto& l : area) {
    buf += l;
    buf += '\n';
    drawn_widths_.push_back(display_width(l));
  }
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
}

void TerminalView::clear(int cols) {
  std::string buf = erase_sequence(cols);
  buf += queued_;
  queued_.clear();
  drawn_widths_.clear();
  if (buf.empty()) return;
  std::fwrite(buf.data(), 1, buf.size(), out_);
  std::fflush(out_);
}

}  // namespace wf
