#include "wf/expr.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "expr_functions.hpp"
#include "expr_parser.hpp"

namespace wf {

namespace {
constexpr std::size_t kMaxTextBytes = 16u << 20;  // the longest text an expression may make
}  // namespace


namespace ed = expr_detail;

namespace {

using ed::trim;

// ---- evaluator ------------------------------------------------------------------------

// A value during evaluation: a pointer into the context when it was read from there (so
// `stages.x.outputs.stdout` copies only the string it ends at), else an owned value.
// `filtered` marks the result of `.*`: further access maps over its items (GitHub).
struct Val {
  const Json* ref = nullptr;
  Json owned;
  bool filtered = false;

  const Json& get() const { return ref ? *ref : owned; }
  Json take() && { return ref ? *ref : std::move(owned); }
};

Val owned(Json j, bool filtered = false) { return Val{nullptr, std::move(j), filtered}; }

// An evaluation error, already worded. Thrown inside the evaluator only.
struct EvalFailure {
  std::string message;
};

std::string a_type(const Json& v) { return v.is_null() ? "null" : "a " + ed::type_name(v); }

class Evaluator {
 public:
  Evaluator(std::string_view text, const EvalContext& ctx) : text_(text), ctx_(ctx) {}

  // `lenient`: a missing key or index in this node's own last step reads as null (set by a
  // `?.` above it, and for the input of default/coalesce).
  Val eval(const ExprNode& n, bool lenient = false) {
    switch (n.kind) {
      case NodeKind::literal: return Val{&n.literal, {}, false};
      case NodeKind::name: return name(n, lenient);
      case NodeKind::member: return step(n, Json(n.name), lenient);
      case NodeKind::index: {
        Json key = eval(*n.kids[1]).get();
        if (key.is_string()) return step(n, key, lenient);
        auto i = ed::integer_value(key);
        if (!i) fail_at(n, "an index must be a string or an integer, not " + a_type(key));
        return step(n, Json(*i), lenient);
      }
      case NodeKind::wildcard: return wildcard(n);
      case NodeKind::negate: return owned(Json(!truthy(eval(*n.kids[0]).get())));
      case NodeKind::compare: return owned(Json(compare(n)));
      case NodeKind::logical_and: {
        Val l = eval(*n.kids[0]);
        return truthy(l.get()) ? eval(*n.kids[1]) : l;
      }
      case NodeKind::logical_or: {
        Val l = eval(*n.kids[0]);
        return truthy(l.get()) ? l : eval(*n.kids[1]);
      }
      case NodeKind::call: return call(n, 0, {});
      case NodeKind::filter: {
        Val input = eval(*n.kids[0], n.builtin->null_if_missing);
        return call(n, 1, std::move(input).take());
      }
    }
    return owned(Json());
  }

 private:
  std::string span(const ExprNode& n) const { return std::string(text_.substr(n.begin, n.end - n.begin)); }
  [[noreturn]] void fail(const std::string& message) const {
    throw EvalFailure{message + " (in '" + std::string(trim(text_)) + "')"};
  }
  [[noreturn]] void fail_at(const ExprNode& n, const std::string& message) const {
    fail(span(n) + ": " + message);
  }

  Val name(const ExprNode& n, bool lenient) const {
    if (ctx_.vars && ctx_.vars->is_object()) {
      auto it = ctx_.vars->find(n.name);
      if (it != ctx_.vars->end()) return Val{&*it, {}, false};
    }
    if (lenient) return owned(Json());
    fail_at(n, "name '" + n.name + "' is not defined");
  }

  // object.key / object[key] for the member and index nodes.
  Val step(const ExprNode& n, const Json& key, bool lenient) {
    const ExprNode& object = *n.kids[0];
    Val base = eval(object, n.optional);
    if (base.filtered) return collect(base.get(), key);
    const Json& b = base.get();
    if (b.is_null() && n.optional) return owned(Json());
    lenient = lenient || n.optional;
    const Json* found = nullptr;
    if (b.is_object()) {
      std::string k = to_text(key);
      auto it = b.find(k);
      if (it == b.end()) {
        if (lenient) return owned(Json());
        fail_at(n, "key '" + k + "' not found in '" + span(object) + "'");
      }
      found = &*it;
    } else if (b.is_array() && !key.is_string()) {
      std::int64_t i = *ed::integer_value(key);
      if (i < 0 || static_cast<std::uint64_t>(i) >= b.size()) {
        if (lenient) return owned(Json());
        fail_at(n, "index " + std::to_string(i) + " is out of range, '" + span(object) + "' has " +
                       std::to_string(b.size()) + (b.size() == 1 ? " item" : " items"));
      }
      found = &b[static_cast<std::size_t>(i)];
    } else {
      fail_at(n,
              "'" + span(object) + "' is " + a_type(b) + ", not " + (key.is_string() ? "a map" : "a list"));
    }
    if (base.ref) return Val{found, {}, false};
    return owned(std::move(const_cast<Json&>(*found)));  // `found` lies inside base.owned, ours
  }

  // `.key` or `[i]` after `.*`: the values of the items that have it.
  static Val collect(const Json& items, const Json& key) {
    Json out = Json::array();
    for (const auto& item : items) {
      if (item.is_object() && (key.is_string() || ed::integer_value(key))) {
        auto it = item.find(to_text(key));
        if (it != item.end()) out.push_back(*it);
      } else if (item.is_array() && !key.is_string()) {
        std::int64_t i = *ed::integer_value(key);
        if (i >= 0 && static_cast<std::uint64_t>(i) < item.size())
          out.push_back(item[static_cast<std::size_t>(i)]);
      }
    }
    return owned(std::move(out), true);
  }

  Val wildcard(const ExprNode& n) {
    Val base = eval(*n.kids[0], n.optional);
    const Json& b = base.get();
    Json out = Json::array();
    auto add_all = [&out](const Json& c) {
      for (const auto& e : c) out.push_back(e);
    };
    if (base.filtered) {
      for (const auto& item : b)
        if (item.is_array() || item.is_object()) add_all(item);
    } else if (b.is_array() || b.is_object()) {
      add_all(b);
    } else if (b.is_null() && n.optional) {
      return owned(Json());
    } else {
      fail_at(n, "'" + span(*n.kids[0]) + "' is " + a_type(b) + ", not a list or map");
    }
    return owned(std::move(out), true);
  }

  bool compare(const ExprNode& n) {
    Val l = eval(*n.kids[0]);
    Val r = eval(*n.kids[1]);
    const Json& a = l.get();
    const Json& b = r.get();
    auto order = ed::compare_values(a, b);
    switch (n.op) {
      case CompareOp::eq: return ed::values_equal(a, b);
      case CompareOp::ne: return !ed::values_equal(a, b);
      case CompareOp::lt: return order == ed::Order::less;
      case CompareOp::le: return order == ed::Order::less || order == ed::Order::equal;
      case CompareOp::gt: return order == ed::Order::greater;
      case CompareOp::ge: return order == ed::Order::greater || order == ed::Order::equal;
      case CompareOp::in:
      case CompareOp::not_in: {
        auto found = ed::contains_value(b, a);
        if (!found.ok()) fail(found.error().message);
        return *found == (n.op == CompareOp::in);
      }
    }
    return false;
  }

  // A function call (args from kids[first..]) or a filter (input, then kids[1..]).
  Val call(const ExprNode& n, std::size_t first, std::optional<Json> input) {
    std::vector<Json> args;
    args.reserve(n.kids.size() + 1);
    if (input) args.push_back(std::move(*input));
    for (std::size_t i = first; i < n.kids.size(); ++i) args.push_back(eval(*n.kids[i]).take());
    auto r = n.builtin->call(args, ctx_);
    if (!r.ok()) fail(r.error().message);
    // Text that doubles with each call (to_json of to_json ...) would exhaust memory first.
    if (r->is_string() && r->get_ref<const std::string&>().size() > kMaxTextBytes)
      fail("'" + std::string(n.builtin->name) + "' made text of more than 16 MiB");
    return owned(std::move(*r));
  }

  std::string_view text_;
  const EvalContext& ctx_;
};

// ---- static analysis ------------------------------------------------------------------

bool is_access(NodeKind k) {
  return k == NodeKind::name || k == NodeKind::member || k == NodeKind::index || k == NodeKind::wildcard;
}

void collect_references(const ExprNode& n, std::vector<Reference>& out) {
  if (!is_access(n.kind)) {
    for (const auto& k : n.kids) collect_references(*k, out);
    return;
  }
  std::vector<const ExprNode*> chain;  // outermost access first
  const ExprNode* root = &n;
  while (root->kind != NodeKind::name && is_access(root->kind)) {
    chain.push_back(root);
    root = root->kids[0].get();
  }
  for (const ExprNode* c : chain)
    if (c->kind == NodeKind::index) collect_references(*c->kids[1], out);
  if (root->kind != NodeKind::name) {
    collect_references(*root, out);
    return;
  }
  Reference ref;
  ref.offset = root->begin;
  ref.path.push_back(root->name);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const ExprNode& c = **it;
    if (c.kind == NodeKind::member) {
      ref.path.push_back(c.name);
      continue;
    }
    if (c.kind != NodeKind::index) break;
    const ExprNode& key = *c.kids[1];
    if (key.kind != NodeKind::literal || !(key.literal.is_string() || key.literal.is_number_integer())) break;
    ref.path.push_back(to_text(key.literal));
  }
  out.push_back(std::move(ref));
}

bool any_status_call(const ExprNode& n) {
  if (n.kind == NodeKind::call && n.builtin->status) return true;
  return std::any_of(n.kids.begin(), n.kids.end(), [](const auto& k) { return any_status_call(*k); });
}

// Where the `}}` closing an expression that starts at `from` is: the first one outside
// quotes, or (for an unterminated quote, so the expression parser can report it) the first.
std::optional<std::size_t> find_close(std::string_view s, std::size_t from) {
  char quote = 0;
  for (std::size_t i = from; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (quote == '"' && c == '\\')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '}' && i + 1 < s.size() && s[i + 1] == '}') {
      return i;
    }
  }
  auto plain = s.find("}}", from);
  if (plain == std::string_view::npos) return std::nullopt;
  return plain;
}

}  // namespace

// ---- Expression -----------------------------------------------------------------------

Result<Expression> Expression::parse(std::string_view text, bool python_literals, std::size_t* error_offset) {
  ed::SyntaxError error;
  auto root = ed::parse_tree(text, python_literals, &error);
  if (!root) {
    if (error_offset) *error_offset = error.offset;
    return Error(std::move(error.message), "TemplateError");
  }
  Expression e;
  e.text_ = std::string(text);
  e.root_ = std::move(root);
  return e;
}

Result<Json> Expression::evaluate(const EvalContext& ctx) const {
  if (!root_) return Error("cannot evaluate an empty expression", "TemplateError");
  try {
    return Evaluator(text_, ctx).eval(*root_).take();
  } catch (const EvalFailure& f) {
    return Error(f.message, "TemplateError");
  } catch (const std::bad_alloc&) {
    return Error("out of memory evaluating '" + std::string(trim(text_)) + "'", "TemplateError");
  } catch (const std::exception& e) {  // a JSON library error we did not foresee
    return Error(std::string(e.what()) + " (in '" + std::string(trim(text_)) + "')", "TemplateError");
  }
}

std::vector<Reference> Expression::references() const {
  std::vector<Reference> out;
  if (root_) collect_references(*root_, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const Reference& a, const Reference& b) { return a.offset < b.offset; });
  return out;
}

bool Expression::calls_status_function() const { return root_ && any_status_call(*root_); }

Expression::Expression(const Expression& o)
    : text_(o.text_), root_(o.root_ ? ed::clone_tree(*o.root_) : nullptr) {}
Expression& Expression::operator=(const Expression& o) {
  if (this != &o) {
    text_ = o.text_;
    root_ = o.root_ ? ed::clone_tree(*o.root_) : nullptr;
  }
  return *this;
}
Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

// ---- Template -------------------------------------------------------------------------

Result<Template> Template::parse(std::string_view text, std::size_t* error_offset) {
  Template t;
  t.text_ = std::string(text);
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) t.parts_.push_back(Part{std::exchange(literal, {}), nullptr, 0});
  };
  for (std::size_t i = 0; i < text.size();) {
    if (text.substr(i, 4) == "$${{") {
      literal += "${{";
      i += 4;
    } else if (text.substr(i, 3) == "${{") {
      const std::size_t start = i + 3;
      auto close = find_close(text, start);
      if (!close) {
        if (error_offset) *error_offset = i;
        return Error("unterminated '${{' at " + ed::position_text(text, i) + " (no closing '}}')",
                     "TemplateError");
      }
      std::size_t offset = 0;
      auto e = Expression::parse(text.substr(start, *close - start), false, &offset);
      if (!e.ok()) {
        if (error_offset) *error_offset = start + offset;
        return e.error();
      }
      flush();
      t.parts_.push_back(Part{{}, std::make_shared<Expression>(std::move(*e)), start});
      i = *close + 2;
    } else {
      literal += text[i++];
    }
  }
  flush();
  std::size_t expressions = 0;
  bool blank_text = true;
  for (const auto& p : t.parts_) {
    if (p.expr)
      ++expressions;
    else if (!trim(p.literal).empty())
      blank_text = false;
  }
  t.single_ = expressions == 1 && blank_text;
  return t;
}

Result<Json> Template::render(const EvalContext& ctx) const {
  if (single_) {
    for (const auto& p : parts_)
      if (p.expr) return p.expr->evaluate(ctx);
  }
  std::string out;
  for (const auto& p : parts_) {
    if (!p.expr) {
      out += p.literal;
      continue;
    }
    auto v = p.expr->evaluate(ctx);
    if (!v.ok()) return v.error();
    out += to_text(*v);
  }
  return Json(std::move(out));
}

Result<std::string> Template::render_string(const EvalContext& ctx) const {
  auto v = render(ctx);
  if (!v.ok()) return v.error();
  return to_text(*v);
}

bool Template::has_expressions() const {
  return std::any_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.expr != nullptr; });
}

bool Template::is_single_expression() const { return single_; }

std::vector<std::pair<const Expression*, std::size_t>> Template::expressions() const {
  std::vector<std::pair<const Expression*, std::size_t>> out;
  for (const auto& p : parts_)
    if (p.expr) out.emplace_back(p.expr.get(), p.offset);
  return out;
}

std::vector<Reference> Template::references() const {
  std::vector<Reference> out;
  for (const auto& [expr, offset] : expressions()) {
    for (auto r : expr->references()) {
      r.offset += offset;
      out.push_back(std::move(r));
    }
  }
  return out;
}

bool Template::calls_status_function() const {
  return std::any_of(parts_.begin(), parts_.end(),
                     [](const Part& p) { return p.expr && p.expr->calls_status_function(); });
}

// ---- conditions -----------------------------------------------------------------------

Result<bool> evaluate_condition(std::string_view text, const EvalContext& ctx) {
  auto tpl = Template::parse(text);
  if (!tpl.ok()) return tpl.error();
  if (tpl->is_single_expression()) {
    auto v = tpl->render(ctx);
    if (!v.ok()) return v.error();
    return truthy(*v);
  }
  // No template: the text is the expression. Mixed: the rendered text is (ddeutil).
  auto rendered = tpl->render_string(ctx);
  if (!rendered.ok()) return rendered.error();
  auto expr = Expression::parse(*rendered, true);
  if (!expr.ok()) return expr.error();
  auto v = expr->evaluate(ctx);
  if (!v.ok()) return v.error();
  return truthy(*v);
}

}  // namespace wf