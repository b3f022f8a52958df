// The expression language of FORMAT.md §7: `${{ ... }}` templates, their parser, evaluator
// and static references. Values are JSON (nlohmann::json). This file knows nothing of YAML,
// files or processes: positions are offsets into the string that was parsed, and callers
// (the validator, the scheduler) map them to file:line:col.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wf/result.hpp"

namespace wf {

using Json = nlohmann::json;

// What an evaluation may read. `vars` is a JSON object whose keys are the namespaces
// (params, env, matrix, needs, jobs, stages, item, loop, ...). The status functions read
// the flags: success() = !any_failed && !cancelled, failure() = any_failed,
// cancelled() = cancelled, always() = true.
struct EvalContext {
  const Json* vars = nullptr;
  bool any_failed = false;
  bool cancelled = false;
};

// A reference found by static analysis: the chain of literal names starting at a root
// identifier, e.g. `needs.build.outputs.x` -> {"needs","build","outputs","x"};
// `a['b'][0]` -> {"a","b","0"}; the chain stops at the first dynamic part or `*`.
struct Reference {
  std::vector<std::string> path;
  std::size_t offset = 0;  // where the root identifier starts in the parsed text
};

struct ExprNode;  // AST, private to expr.cpp

// One parsed expression (the text between `${{` and `}}`, or a bare `if:` condition).
class Expression {
 public:
  // `python_literals`: also read True/False/None (ddeutil conditions). On a syntax error
  // the Error (name "TemplateError") says what is wrong and quotes the expression, and
  // *error_offset (if given) is set to the 0-based offset of the problem in `text`.
  static Result<Expression> parse(std::string_view text, bool python_literals = false,
                                  std::size_t* error_offset = nullptr);
  // Errors come back as Error{message, "TemplateError"}; the message names the expression
  // and the missing path, e.g. "params.x: key 'x' not found in 'params' (in 'params.x')".
  Result<Json> evaluate(const EvalContext& ctx) const;
  std::vector<Reference> references() const;
  bool calls_status_function() const;  // success() failure() always() cancelled()
  const std::string& text() const { return text_; }

  Expression(const Expression&);
  Expression& operator=(const Expression&);
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  ~Expression();

 private:
  Expression() = default;
  std::string text_;
  std::unique_ptr<ExprNode> root_;
};

// A string that may contain `${{ expr }}` parts; `$${{` is a literal `${{`.
class Template {
 public:
  // On a syntax error *error_offset (if given) is the 0-based offset into `text`.
  static Result<Template> parse(std::string_view text, std::size_t* error_offset = nullptr);

  // A template that is exactly one `${{ }}` (surrounding whitespace allowed) keeps the
  // expression's JSON type; otherwise the result is a string: null -> "", booleans ->
  // true/false, numbers as JSON, strings as they are, lists/maps -> compact JSON.
  // Text without any template renders to itself (a string).
  Result<Json> render(const EvalContext& ctx) const;
  Result<std::string> render_string(const EvalContext& ctx) const;  // render, then as text

  bool has_expressions() const;
  bool is_single_expression() const;
  // Every expression in the template with its offset (of the first char after `${{`).
  std::vector<std::pair<const Expression*, std::size_t>> expressions() const;
  // References of every expression, offsets mapped into the template text.
  std::vector<Reference> references() const;
  bool calls_status_function() const;

 private:
  struct Part {
    std::string literal;          // used when expr is empty
    std::shared_ptr<Expression> expr;
    std::size_t offset = 0;       // offset of the expression text inside the template
  };
  std::vector<Part> parts_;
  bool single_ = false;
  std::string text_;
};

// Evaluates a condition (`if:`, `until:`) as FORMAT §7 says: a value that is exactly one
// template is that expression; a value without templates is itself an expression; a value
// mixing text and templates is rendered first and the text parsed as an expression with
// Python literals True/False/None. The result is the truthiness of the value.
Result<bool> evaluate_condition(std::string_view text, const EvalContext& ctx);

// GitHub Actions truthiness: false, 0, -0, NaN, "", null are false; everything else true.
bool truthy(const Json& v);
// Value -> text as a template inside longer text renders it.
std::string to_text(const Json& v);

}  // namespace wf
