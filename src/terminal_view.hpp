// The screen side of the terminal live view: measuring and fitting text to the terminal
// width, laying out the live area (running stages, collapse, counts) and repainting it in
// place below the lines that scroll above. It knows nothing of runs or the scheduler; the
// TerminalReporter in reporter.cpp feeds it. Only used when stdout is a terminal.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace wf {

struct TermSize {
  int cols = 80;
  int rows = 24;
};

// The size of the terminal behind `out` (ioctl TIOCGWINSZ), asked anew each time so a resize
// is followed; 80x24 when `out` is not a terminal.
TermSize terminal_size(std::FILE* out);

// Columns `s` takes on screen: SGR escapes take none, wide (CJK, emoji) code points two.
int display_width(std::string_view s);
// `s` cut to at most `cols` columns, ending in "…" when cut (escapes kept, colour reset).
std::string fit_to_width(std::string_view s, int cols);
// A line of a stage's output made safe to print: colour escapes kept, other escapes and
// control characters dropped, only the text after the last carriage return kept.
std::string printable(std::string_view line);

// Elapsed time as the live area shows it: "0.4s", "12.3s", "4m05s", "2h03m".
std::string elapsed_text(double seconds);

struct LiveStage {
  std::string name;  // "job/stage"
  double seconds = 0;
};

struct LiveCounts {
  int running = 0;
  int done = 0;
  int failed = 0;
  double seconds = 0;  // since the run started
};

// The live area's lines for `running` (oldest first): one per stage with a spinner and its
// elapsed time, at most rows-5 of them and then "… and N more running", then the counts.
// Every line fits in size.cols - 1 columns so the area never wraps.
std::vector<std::string> layout_live_area(const std::vector<LiveStage>& running, const LiveCounts& counts,
                                          TermSize size, int frame, bool color);

// The live area on screen. Lines printed through it go above the area; show() repaints the
// area in place: cursor up over the old area, clear to the end of the screen, write the
// queued lines, write the new area, all in one write so nothing interleaves.
class TerminalView {
 public:
  explicit TerminalView(std::FILE* out) : out_(out) {}
  ~TerminalView();
  TerminalView(const TerminalView&) = delete;
  TerminalView& operator=(const TerminalView&) = delete;

  // Queues a finished line (without its newline) to scroll above the area on the next show().
  void print(std::string_view line);
  bool has_queued() const { return !queued_.empty(); }
  // Erases the area, writes the queued lines, draws `area` (lines already fitted to `cols`).
  void show(const std::vector<std::string>& area, int cols);
  // Erases the area and writes the queued lines; the area stays gone until the next show().
  void clear(int cols);

 private:
  std::string erase_sequence(int cols) const;
  std::FILE* out_;
  std::string queued_;
  std::vector<int> drawn_widths_;  // columns of each area line now on screen
};

}  // namespace wf
