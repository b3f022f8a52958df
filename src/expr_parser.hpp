// Private to the expression module: the syntax tree of one expression and the parser that
// builds it from text (expr_parser.cpp). The evaluator, Template and the static checks in
// expr.cpp walk the tree; built-ins are resolved while parsing (expr_functions.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "expr_functions.hpp"
#include "wf/expr.hpp"

namespace wf {

enum class NodeKind {
  literal,
  name,
  member,
  index,
  wildcard,
  negate,
  compare,
  logical_and,
  logical_or,
  call,
  filter
};
enum class CompareOp { eq, ne, lt, le, gt, ge, in, not_in };

// One node of a parsed expression. kids: member/wildcard {object}; index {object, key};
// negate {operand}; compare/and/or {left, right}; call {args...}; filter {input, args...}.
struct ExprNode {
  NodeKind kind = NodeKind::literal;
  std::size_t begin = 0;  // source span in the parsed text, for messages and references
  std::size_t end = 0;
  Json literal;
  std::string name;  // root name, member key, or function/filter name
  CompareOp op = CompareOp::eq;
  bool optional = false;  // reached through `?.`
  const expr_detail::Builtin* builtin = nullptr;
  std::vector<std::unique_ptr<ExprNode>> kids;
  int depth = 1;
};

namespace expr_detail {

// Bounds both the parser's recursion and the tree depth, so that evaluating, copying and
// destroying a tree cannot exhaust the stack on hostile input.
inline constexpr int kMaxNesting = 200;

// A syntax error, worded ("unexpected token ')' at column 6 in 'a == )'"), with the 0-based
// offset of the problem in the parsed text.
struct SyntaxError {
  std::string message;
  std::size_t offset = 0;
};

// The tree of one expression, or nullptr with *error filled in.
std::unique_ptr<ExprNode> parse_tree(std::string_view text, bool python_literals, SyntaxError* error);
std::unique_ptr<ExprNode> clone_tree(const ExprNode& n);

std::string_view trim(std::string_view s);
// "column 7", or "line 2, column 3" when `s` has several lines; `offset` is 0-based.
std::string position_text(std::string_view s, std::size_t offset);

}  // namespace expr_detail
}  // namespace wf
