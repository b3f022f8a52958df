#include "wf/diagnostic.hpp"

#include <algorithm>

namespace wf {

void DiagnosticList::add_source(const std::string& file, std::string text) {
  sources_[file] = std::move(text);
}

const std::string* DiagnosticList::source(const std::string& file) const {
  auto it = sources_.find(file);
  return it == sources_.end() ? nullptr : &it->second;
}

void DiagnosticList::error(const SourcePos& pos, std::string message) {
  items_.push_back({Severity::Error, std::move(message), pos});
}
void DiagnosticList::warning(const SourcePos& pos, std::string message) {
  items_.push_back({Severity::Warning, std::move(message), pos});
}
void DiagnosticList::note(const SourcePos& pos, std::string message) {
  items_.push_back({Severity::Note, std::move(message), pos});
}

bool DiagnosticList::has_errors() const { return error_count() > 0; }

std::size_t DiagnosticList::error_count() const {
  return std::count_if(items_.begin(), items_.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::Error; });
}

std::size_t DiagnosticList::warning_count() const {
  return std::count_if(items_.begin(), items_.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::Warning; });
}

std::vector<Diagnostic> DiagnosticList::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.pos.file != b.pos.file) return a.pos.file < b.pos.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.col < b.pos.col;
  });
  return out;
}

std::string source_line(const std::string& text, int line) {
  if (line <= 0) return {};
  std::size_t start = 0;
  for (int l = 1; l < line; ++l) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) return {};
    start = nl + 1;
  }
  auto end = text.find('\n', start);
  std::string s = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

SourcePos position_of(const std::string& text, std::size_t offset, const std::string& file) {
  SourcePos p{file, 1, 1};
  offset = std::min(offset, text.size());
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.col = 1;
    } else {
      ++p.col;
    }
  }
  return p;
}

std::size_t offset_of(const std::string& text, int line, int col) {
  std::size_t off = 0;
  for (int l = 1; l < line && off < text.size(); ++l) {
    auto nl = text.find('\n', off);
    if (nl == std::string::npos) return text.size();
    off = nl + 1;
  }
  return std::min(text.size(), off + static_cast<std::size_t>(std::max(0, col - 1)));
}

std::string DiagnosticList::format(const Diagnostic& d, bool color) const {
  const char* word = d.severity == Severity::Error     ? "error"
                     : d.severity == Severity::Warning ? "warning"
                                                       : "note";
  const char* on = "";
  const char* off = color ? "\033[0m" : "";
  if (color) on = d.severity == Severity::Error ? "\033[1;31m" : d.severity == Severity::Warning ? "\033[1;35m" : "\033[1;36m";
  std::string out;
  if (!d.pos.file.empty()) {
    out += d.pos.file;
    if (d.pos.line > 0) out += ":" + std::to_string(d.pos.line) + ":" + std::to_string(std::max(1, d.pos.col));
    out += ": ";
  } else {
    out += "wf: ";
  }
  out += std::string(on) + word + ":" + off + " " + d.message + "\n";
  if (d.pos.line > 0) {
    if (const std::string* text = source(d.pos.file)) {
      std::string line = source_line(*text, d.pos.line);
      if (!line.empty()) {
        // A long line (minified JSON, a generated file) is shown as a window around the column.
        constexpr std::size_t kWidth = 120;
        std::size_t col = static_cast<std::size_t>(std::max(1, d.pos.col));
        if (line.size() > kWidth) {
          std::size_t from = col > kWidth / 2 ? col - 1 - kWidth / 2 : 0;
          std::size_t to = std::min(line.size(), from + kWidth);
          auto utf8_start = [&](std::size_t i) {  // not inside a multi-byte character
            while (i > 0 && i < line.size() && (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) --i;
            return i;
          };
          from = utf8_start(from);
          to = utf8_start(to);
          std::string head = from > 0 ? "..." : "";
          line = head + line.substr(from, to - from) + (to < line.size() ? "..." : "");
          col = col - from + head.size();
        }
        std::string caret;
        for (std::size_t i = 1; i < col && i <= line.size(); ++i)
          caret += line[i - 1] == '\t' ? '\t' : ' ';
        out += "  " + line + "\n  " + caret + (color ? "\033[1;32m^\033[0m" : "^") + "\n";
      }
    }
  }
  return out;
}

}  // namespace wf
