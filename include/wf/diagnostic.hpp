// Problems found while loading and validating workflow files, and how they are shown:
// `path:line:col: error: message`, then the source line and a caret under the column.
// A DiagnosticList collects every problem (wf validate reports all, not just the first)
// and keeps the text of each file it has seen so that the caret lines can be printed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "wf/result.hpp"

namespace wf {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string message;
  SourcePos pos;  // file may be empty for problems that have no place
};

class DiagnosticList {
 public:
  void add_source(const std::string& file, std::string text);
  const std::string* source(const std::string& file) const;

  void error(const SourcePos& pos, std::string message);
  void warning(const SourcePos& pos, std::string message);
  void note(const SourcePos& pos, std::string message);

  bool has_errors() const;
  std::size_t error_count() const;
  std::size_t warning_count() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  // Sorted by file, line, column (stable for equal places).
  std::vector<Diagnostic> sorted() const;

  // One diagnostic as the user sees it (with source line and caret when known).
  std::string format(const Diagnostic& d, bool color = false) const;

 private:
  std::vector<Diagnostic> items_;
  std::map<std::string, std::string> sources_;
};

// The source line `line` (1-based) of `text`, without its newline.
std::string source_line(const std::string& text, int line);
// Line/col of byte `offset` in `text`.
SourcePos position_of(const std::string& text, std::size_t offset, const std::string& file);
// Byte offset of (line, col) in `text` (clamped).
std::size_t offset_of(const std::string& text, int line, int col);

}  // namespace wf
