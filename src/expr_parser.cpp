#include "expr_parser.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>

namespace wf {

namespace ed = expr_detail;

namespace {

using ed::kMaxNesting;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_word_char(char c) { return is_word_start(c) || is_digit(c) || c == '-'; }

std::pair<std::size_t, std::size_t> trimmed_span(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return {b, e};
}

// A character as it appears in a message; control and non-ASCII bytes as \xNN.
std::string printable(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string(1, c);
  const char* hex = "0123456789abcdef";
  return std::string("\\x") + hex[u >> 4] + hex[u & 15];
}

// ---- lexer ----------------------------------------------------------------------------

enum class TokKind { end, error, number, string, word, punct };

struct Token {
  TokKind kind = TokKind::end;
  std::size_t offset = 0;
  std::string_view text;  // as written
  Json value;             // number or string value; the message of an error token
};

// Turns the text into tokens. It stops at the first bad character with an error token, so
// the parser reports whichever problem comes first in the text.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  std::vector<Token> run() {
    std::vector<Token> out;
    std::size_t last_end = 0;
    for (;;) {
      while (at_ < s_.size() && is_space(s_[at_])) ++at_;
      if (at_ >= s_.size()) {
        out.push_back(Token{TokKind::end, last_end, {}, {}});
        return out;
      }
      Token t = next();
      last_end = t.offset + t.text.size();
      bool stop = t.kind == TokKind::error;
      out.push_back(std::move(t));
      if (stop) return out;
    }
  }

 private:
  Token make(TokKind kind, std::size_t begin, Json value = {}) {
    return Token{kind, begin, s_.substr(begin, at_ - begin), std::move(value)};
  }
  Token error(std::size_t offset, std::string message) {
    return Token{TokKind::error, offset, {}, Json(std::move(message))};
  }
  char at(std::size_t i) const { return i < s_.size() ? s_[i] : '\0'; }

  Token next() {
    const std::size_t begin = at_;
    const char c = s_[at_];
    if (is_digit(c) || (c == '-' && is_digit(at(at_ + 1)))) return number();
    if (c == '\'') return single_quoted();
    if (c == '"') return double_quoted();
    if (is_word_start(c)) {
      while (at_ < s_.size() && is_word_char(s_[at_])) ++at_;
      return make(TokKind::word, begin);
    }
    for (std::string_view p : {"?.", "==", "!=", "<=", ">=", "&&", "||"}) {
      if (s_.substr(at_, 2) == p) {
        at_ += 2;
        return make(TokKind::punct, begin);
      }
    }
    if (std::string_view(".[](),|!<>*").find(c) != std::string_view::npos) {
      ++at_;
      return make(TokKind::punct, begin);
    }
    if (c == '=') return error(begin, "unexpected character '=' (did you mean '=='?)");
    if (c == '&') return error(begin, "unexpected character '&' (did you mean '&&'?)");
    return error(begin, "unexpected character '" + printable(c) + "'");
  }

  Token number() {
    const std::size_t begin = at_;
    if (s_[at_] == '-') ++at_;
    while (is_digit(at(at_))) ++at_;
    bool is_float = false;
    if (at(at_) == '.' && is_digit(at(at_ + 1))) {
      is_float = true;
      ++at_;
      while (is_digit(at(at_))) ++at_;
    }
    if (at(at_) == 'e' || at(at_) == 'E') {
      std::size_t save = at_++;
      if (at(at_) == '+' || at(at_) == '-') ++at_;
      if (is_digit(at(at_))) {
        is_float = true;
        while (is_digit(at(at_))) ++at_;
      } else {
        at_ = save;
      }
    }
    if (is_word_char(at(at_))) {
      while (is_word_char(at(at_))) ++at_;
      return error(begin, "invalid number '" + std::string(s_.substr(begin, at_ - begin)) + "'");
    }
    const char* first = s_.data() + begin;
    const char* last = s_.data() + at_;
    if (!is_float) {
      std::int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) return make(TokKind::number, begin, Json(i));
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last)
      return error(begin, "invalid number '" + std::string(s_.substr(begin, at_ - begin)) + "'");
    return make(TokKind::number, begin, Json(d));
  }

  // GitHub style: no escapes except '' for a quote.
  Token single_quoted() {
    const std::size_t begin = at_++;
    std::string value;
    while (at_ < s_.size()) {
      if (s_[at_] == '\'') {
        if (at(at_ + 1) != '\'') {
          ++at_;
          return make(TokKind::string, begin, Json(std::move(value)));
        }
        ++at_;
      }
      value += s_[at_++];
    }
    return error(begin, "unterminated string");
  }

  // JSON-like backslash escapes; an unknown escape keeps its backslash (as Python does).
  Token double_quoted() {
    const std::size_t begin = at_++;
    std::string value;
    while (at_ < s_.size()) {
      char c = s_[at_++];
      if (c == '"') return make(TokKind::string, begin, Json(std::move(value)));
      if (c != '\\' || at_ >= s_.size()) {
        value += c;
        continue;
      }
      char e = s_[at_++];
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case '0': value += '\0'; break;
        case '\\':
        case '"':
        case '\'':
        case '/': value += e; break;
        case 'u': {
          auto cp = hex4(at_);
          if (!cp) return error(at_ - 2, "invalid escape '\\u' in string");
          at_ += 4;
          std::uint32_t code = *cp;
          if (code >= 0xD800 && code < 0xDC00 && at(at_) == '\\' && at(at_ + 1) == 'u') {
            auto low = hex4(at_ + 2);
            if (low && *low >= 0xDC00 && *low < 0xE000) {
              code = 0x10000 + ((code - 0xD800) << 10) + (*low - 0xDC00);
              at_ += 6;
            }
          }
          if (code >= 0xD800 && code < 0xE000) code = 0xFFFD;  // a lone surrogate
          append_utf8(value, code);
          break;
        }
        default:
          value += '\\';
          value += e;
          break;
      }
    }
    return error(begin, "unterminated string");
  }

  std::optional<std::uint32_t> hex4(std::size_t i) const {
    if (i + 4 > s_.size()) return std::nullopt;
    std::uint32_t v = 0;
    auto r = std::from_chars(s_.data() + i, s_.data() + i + 4, v, 16);
    if (r.ec != std::errc() || r.ptr != s_.data() + i + 4) return std::nullopt;
    return v;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view s_;
  std::size_t at_ = 0;
};

// ---- parser ---------------------------------------------------------------------------

// A syntax error before it is worded: what went wrong and where (offset in the text).
// Thrown inside the recursive descent only; parse_tree() catches it. One throw site per
// failure keeps the descent readable; the exception never leaves this file.
struct ParseFailure {
  std::string what;
  std::size_t offset = 0;
};

std::string arity_text(std::size_t min, std::size_t max) {
  auto count = [](std::size_t n) {
    return n == 1 ? std::string("1 argument") : std::to_string(n) + " arguments";
  };
  if (max == ed::kAnyCount) return "at least " + count(min);
  if (min == max) return min == 0 ? "no arguments" : count(min);
  return std::to_string(min) + (max == min + 1 ? " or " : " to ") + std::to_string(max) + " arguments";
}

// Recursive descent over the tokens; precedence from loosest to tightest:
// `|` filters, `||`/or, `&&`/and, `== != in`/not in, `< <= > >=`, `!`/not, postfix access.
class Parser {
 public:
  Parser(std::string_view text, bool python_literals) : python_(python_literals), toks_(Lexer(text).run()) {}

  std::unique_ptr<ExprNode> parse() {
    if (cur().kind == TokKind::end) throw ParseFailure{"empty expression", cur().offset};
    auto n = pipeline();
    if (cur().kind != TokKind::end) unexpected();
    return n;
  }

 private:
  // Counts recursion; the limit turns `((((...` into an error instead of a stack overflow.
  class Nest {
   public:
    explicit Nest(Parser& p) : p_(p) {
      if (++p_.nesting_ > kMaxNesting) p_.too_deep(p_.cur().offset);
    }
    ~Nest() { --p_.nesting_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Parser& p_;
  };

  const Token& cur() const {
    const Token& t = toks_[pos_];
    if (t.kind == TokKind::error) throw ParseFailure{t.value.get<std::string>(), t.offset};
    return t;
  }
  const Token& after() const { return toks_[std::min(pos_ + 1, toks_.size() - 1)]; }
  void advance() {
    const Token& t = cur();
    last_end_ = t.offset + t.text.size();
    if (t.kind != TokKind::end) ++pos_;
  }
  bool punct(std::string_view p) const { return cur().kind == TokKind::punct && cur().text == p; }
  bool word(std::string_view w) const { return cur().kind == TokKind::word && cur().text == w; }
  void expect(std::string_view p) {
    if (!punct(p)) unexpected();
    advance();
  }

  [[noreturn]] void unexpected() const {
    const Token& t = cur();
    if (t.kind == TokKind::end) throw ParseFailure{"unexpected end of expression", t.offset};
    throw ParseFailure{"unexpected token '" + std::string(t.text) + "'", t.offset};
  }
  [[noreturn]] void too_deep(std::size_t offset) const {
    throw ParseFailure{"expression is nested more than " + std::to_string(kMaxNesting) + " levels deep",
                       offset};
  }

  std::unique_ptr<ExprNode> node(NodeKind kind, std::size_t begin) const {
    auto n = std::make_unique<ExprNode>();
    n->kind = kind;
    n->begin = begin;
    return n;
  }
  std::unique_ptr<ExprNode> finish(std::unique_ptr<ExprNode> n) const {
    n->end = last_end_;
    for (const auto& k : n->kids) n->depth = std::max(n->depth, k->depth + 1);
    if (n->depth > kMaxNesting) too_deep(n->begin);
    return n;
  }
  std::unique_ptr<ExprNode> binary(NodeKind kind, std::unique_ptr<ExprNode> l, std::unique_ptr<ExprNode> r,
                                   CompareOp op = CompareOp::eq) const {
    auto n = node(kind, l->begin);
    n->op = op;
    n->kids.push_back(std::move(l));
    n->kids.push_back(std::move(r));
    return finish(std::move(n));
  }

  std::unique_ptr<ExprNode> pipeline() {
    Nest nest(*this);
    auto left = logical_or();
    while (punct("|")) {
      advance();
      const Token& name = cur();
      if (name.kind != TokKind::word) throw ParseFailure{"expected a filter name after '|'", name.offset};
      const ed::Builtin* b = ed::find_filter(name.text);
      if (!b) throw ParseFailure{"unknown filter '" + std::string(name.text) + "'", name.offset};
      auto f = node(NodeKind::filter, left->begin);
      f->name = std::string(name.text);
      f->builtin = b;
      const std::size_t name_offset = name.offset;
      advance();
      f->kids.push_back(std::move(left));
      if (punct("(")) arguments(*f);
      check_arity(*f, f->kids.size() - 1, "filter '" + f->name + "' takes ", name_offset);
      left = finish(std::move(f));
    }
    return left;
  }

  std::unique_ptr<ExprNode> logical_or() {
    auto left = logical_and();
    while (punct("||") || word("or")) {
      advance();
      left = binary(NodeKind::logical_or, std::move(left), logical_and());
    }
    return left;
  }

  std::unique_ptr<ExprNode> logical_and() {
    auto left = equality();
    while (punct("&&") || word("and")) {
      advance();
      left = binary(NodeKind::logical_and, std::move(left), equality());
    }
    return left;
  }

  // `==`, `!=`, `in` or `not in` at the cursor (consumed), else nullopt.
  std::optional<CompareOp> equality_operator() {
    std::optional<CompareOp> op;
    if (punct("==")) op = CompareOp::eq;
    if (punct("!=")) op = CompareOp::ne;
    if (word("in")) op = CompareOp::in;
    if (word("not") && after().kind == TokKind::word && after().text == "in") {
      advance();
      op = CompareOp::not_in;
    }
    if (op) advance();
    return op;
  }

  std::optional<CompareOp> ordering_operator() {
    static constexpr std::pair<std::string_view, CompareOp> kOps[] = {
        {"<", CompareOp::lt}, {"<=", CompareOp::le}, {">", CompareOp::gt}, {">=", CompareOp::ge}};
    for (auto [text, op] : kOps) {
      if (punct(text)) {
        advance();
        return op;
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<ExprNode> equality() {
    auto left = comparison();
    while (auto op = equality_operator())
      left = binary(NodeKind::compare, std::move(left), comparison(), *op);
    return left;
  }

  std::unique_ptr<ExprNode> comparison() {
    auto left = unary();
    while (auto op = ordering_operator()) left = binary(NodeKind::compare, std::move(left), unary(), *op);
    return left;
  }

  std::unique_ptr<ExprNode> unary() {
    if (punct("!") || word("not")) {
      Nest nest(*this);
      auto n = node(NodeKind::negate, cur().offset);
      advance();
      n->kids.push_back(unary());
      return finish(std::move(n));
    }
    return postfix();
  }

  std::unique_ptr<ExprNode> postfix() {
    auto n = primary();
    for (;;) {
      if (punct(".") || punct("?.")) {
        const bool optional = cur().text == "?.";
        advance();
        if (optional && punct("[")) {
          n = index(std::move(n), true);
        } else if (punct("*")) {
          advance();
          n = access(NodeKind::wildcard, std::move(n), optional);
        } else if (cur().kind == TokKind::word) {
          std::string key(cur().text);
          advance();
          n = access(NodeKind::member, std::move(n), optional);
          n->name = std::move(key);
        } else {
          throw ParseFailure{"expected a name or '*' after '" + std::string(optional ? "?." : ".") + "'",
                             cur().offset};
        }
      } else if (punct("[")) {
        n = index(std::move(n), false);
      } else {
        return n;
      }
    }
  }

  std::unique_ptr<ExprNode> access(NodeKind kind, std::unique_ptr<ExprNode> object, bool optional) const {
    auto n = node(kind, object->begin);
    n->optional = optional;
    n->kids.push_back(std::move(object));
    return finish(std::move(n));
  }

  std::unique_ptr<ExprNode> index(std::unique_ptr<ExprNode> object, bool optional) {
    expect("[");
    if (punct("*") && after().kind == TokKind::punct && after().text == "]") {
      advance();
      advance();
      return access(NodeKind::wildcard, std::move(object), optional);
    }
    auto key = pipeline();
    expect("]");
    auto n = node(NodeKind::index, object->begin);
    n->optional = optional;
    n->kids.push_back(std::move(object));
    n->kids.push_back(std::move(key));
    return finish(std::move(n));
  }

  std::unique_ptr<ExprNode> primary() {
    const Token& t = cur();
    if (t.kind == TokKind::number || t.kind == TokKind::string) {
      auto n = node(NodeKind::literal, t.offset);
      n->literal = t.value;
      advance();
      return finish(std::move(n));
    }
    if (punct("(")) {
      advance();
      auto inner = pipeline();
      expect(")");
      return inner;
    }
    if (t.kind != TokKind::word) unexpected();
    if (auto lit = keyword_literal(t.text)) {
      auto n = node(NodeKind::literal, t.offset);
      n->literal = *lit;
      advance();
      return finish(std::move(n));
    }
    if (t.text == "and" || t.text == "or" || t.text == "in" || t.text == "not") unexpected();
    if (after().kind == TokKind::punct && after().text == "(") return call();
    auto n = node(NodeKind::name, t.offset);
    n->name = std::string(t.text);
    advance();
    return finish(std::move(n));
  }

  std::optional<Json> keyword_literal(std::string_view w) const {
    if (w == "true" || (python_ && w == "True")) return Json(true);
    if (w == "false" || (python_ && w == "False")) return Json(false);
    if (w == "null" || (python_ && w == "None")) return Json();
    return std::nullopt;
  }

  std::unique_ptr<ExprNode> call() {
    const Token& t = cur();
    const ed::Builtin* b = ed::find_function(t.text);
    if (!b) throw ParseFailure{"unknown function '" + std::string(t.text) + "'", t.offset};
    auto n = node(NodeKind::call, t.offset);
    n->name = std::string(b->name);
    n->builtin = b;
    advance();
    arguments(*n);
    check_arity(*n, n->kids.size(), n->name + "() takes ", n->begin);
    return finish(std::move(n));
  }

  void arguments(ExprNode& n) {
    expect("(");
    if (punct(")")) {
      advance();
      return;
    }
    for (;;) {
      n.kids.push_back(pipeline());
      if (punct(")")) break;
      expect(",");
    }
    advance();
  }

  void check_arity(const ExprNode& n, std::size_t given, const std::string& lead, std::size_t offset) const {
    const ed::Builtin& b = *n.builtin;
    if (given < b.min_args || (b.max_args != ed::kAnyCount && given > b.max_args))
      throw ParseFailure{lead + arity_text(b.min_args, b.max_args) + ", got " + std::to_string(given),
                         offset};
  }

  bool python_;
  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  std::size_t last_end_ = 0;
  int nesting_ = 0;
};

}  // namespace

std::unique_ptr<ExprNode> ed::parse_tree(std::string_view text, bool python_literals, SyntaxError* error) {
  try {
    return Parser(text, python_literals).parse();
  } catch (const ParseFailure& f) {
    auto [begin, end] = trimmed_span(text);
    error->offset = f.offset;
    if (begin == end) {
      error->message = "empty expression";
      return nullptr;
    }
    std::string_view shown = text.substr(begin, end - begin);
    std::size_t at = f.offset < begin ? 0 : f.offset - begin;
    error->message = f.what + " at " + position_text(shown, at) + " in '" + std::string(shown) + "'";
    return nullptr;
  }
}

std::unique_ptr<ExprNode> ed::clone_tree(const ExprNode& n) {
  auto c = std::make_unique<ExprNode>();
  c->kind = n.kind;
  c->begin = n.begin;
  c->end = n.end;
  c->literal = n.literal;
  c->name = n.name;
  c->op = n.op;
  c->optional = n.optional;
  c->builtin = n.builtin;
  c->depth = n.depth;
  for (const auto& k : n.kids) c->kids.push_back(clone_tree(*k));
  return c;
}

std::string_view ed::trim(std::string_view s) {
  auto [b, e] = trimmed_span(s);
  return s.substr(b, e - b);
}

std::string ed::position_text(std::string_view s, std::size_t offset) {
  offset = std::min(offset, s.size());
  std::size_t line = 1 + static_cast<std::size_t>(std::count(s.begin(), s.begin() + offset, '\n'));
  std::size_t line_start = offset == 0 ? std::string_view::npos : s.rfind('\n', offset - 1);
  line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
  std::string col = "column " + std::to_string(offset - line_start + 1);
  if (s.find('\n') == std::string_view::npos) return col;
  return "line " + std::to_string(line) + ", " + col;
}

}  // namespace wf
