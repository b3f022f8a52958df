// The YAML tree of the loader, built from libyaml's events. The only includer of yaml.h.
#include "yaml_document.hpp"

#include <yaml.h>

#include <unordered_map>

namespace wf::ydoc {

namespace {

const std::string kEmpty;
const std::vector<Item> kNoItems;

// RAII for libyaml's parser and event structs.
class Parser {
 public:
  Parser() { ok_ = yaml_parser_initialize(&p_) != 0; }
  ~Parser() {
    if (ok_) yaml_parser_delete(&p_);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  bool ok() const { return ok_; }
  yaml_parser_t* get() { return &p_; }

 private:
  yaml_parser_t p_;
  bool ok_ = false;
};

class Event {
 public:
  Event() = default;
  ~Event() {
    if (filled_) yaml_event_delete(&e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  bool next(yaml_parser_t* p) {
    if (filled_) yaml_event_delete(&e_);
    filled_ = yaml_parser_parse(p, &e_) != 0;
    return filled_;
  }
  const yaml_event_t& operator*() const { return e_; }
  const yaml_event_t* operator->() const { return &e_; }

 private:
  yaml_event_t e_;
  bool filled_ = false;
};

SourceMark mark_of(const yaml_mark_t& m) { return {static_cast<int>(m.line), static_cast<int>(m.column)}; }

std::string text_of(const yaml_char_t* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

// yaml-cpp's null scalars: plain, untagged, and one of these.
bool is_null_text(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

}  // namespace

NodeType Node::Type() const { return d_ ? d_->type : NodeType::Undefined; }
const std::string& Node::Scalar() const { return d_ ? d_->scalar : kEmpty; }
const std::string& Node::Tag() const { return d_ ? d_->tag : kEmpty; }
SourceMark Node::Mark() const { return d_ ? d_->mark : SourceMark{}; }
std::size_t Node::size() const { return d_ ? d_->items.size() : 0; }
Node::const_iterator Node::begin() const { return d_ ? d_->items.begin() : kNoItems.begin(); }
Node::const_iterator Node::end() const { return d_ ? d_->items.end() : kNoItems.end(); }

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return Node();
  for (const Item& e : d_->items)
    if (e.first.IsScalar() && e.first.Scalar() == key) return e.second;
  return Node();
}

NodeData& Document::add(NodeType type, SourceMark mark) {
  NodeData& d = nodes_.emplace_back();
  d.type = type;
  d.mark = mark;
  return d;
}

std::optional<Document> parse_document(const std::string& text, ParseError& error) {
  Parser parser;
  if (!parser.ok()) {
    error = {{}, "cannot start the YAML parser"};
    return std::nullopt;
  }
  yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text.data()), text.size());
  Document doc;
  struct Frame {
    NodeData* node;
    std::optional<Node> key;  // a map's key waiting for its value
    std::size_t expanded = 1;  // nodes so far, aliases expanded
  };
  std::vector<Frame> open;
  std::unordered_map<std::string, NodeData*> anchors;
  bool have_root = false;
  auto attach = [&](Node n) {
    if (open.empty()) {
      doc.set_root(n);
      have_root = true;
      return;
    }
    Frame& f = open.back();
    if (f.node->type == NodeType::Sequence) {
      f.node->items.emplace_back(n);
    } else if (!f.key) {
      f.key = n;
    } else {
      f.node->items.emplace_back(*f.key, n);
      f.key.reset();
    }
  };
  auto anchor = [&](const yaml_char_t* name, NodeData& d) {
    if (name) anchors[text_of(name)] = &d;
  };
  // Counts a finished node into its parent's size; false past the limit.
  auto count = [&](std::size_t n, SourceMark mark) {
    if (open.empty()) return true;
    std::size_t& total = open.back().expanded;
    total += n;
    if (total <= kMaxYamlExpandedNodes) return true;
    error = {mark, "with its aliases expanded the document holds more than " + std::to_string(kMaxYamlExpandedNodes) + " values", true};
    return false;
  };
  Event ev;
  for (;;) {
    if (!ev.next(parser.get())) {
      const yaml_parser_t& p = *parser.get();
      error = {mark_of(p.problem_mark), p.problem ? p.problem : "syntax error"};
      return std::nullopt;
    }
    switch (ev->type) {
      case YAML_SCALAR_EVENT: {
        const auto& s = ev->data.scalar;
        std::string value(reinterpret_cast<const char*>(s.value), s.length);
        const bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
        NodeType type = !s.tag && plain && is_null_text(value) ? NodeType::Null : NodeType::Scalar;
        NodeData& d = doc.add(type, mark_of(ev->start_mark));
        if (type == NodeType::Scalar) {
          d.tag = s.tag ? text_of(s.tag) : plain ? "?" : "!";
          d.scalar = std::move(value);
        }
        anchor(s.anchor, d);
        attach(Node(&d));
        if (!count(1, d.mark)) return std::nullopt;
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        const bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (open.size() >= static_cast<std::size_t>(kMaxYamlDepth)) {
          error = {mark_of(ev->start_mark), "nested deeper than " + std::to_string(kMaxYamlDepth) + " levels", true};
          return std::nullopt;
        }
        NodeData& d = doc.add(seq ? NodeType::Sequence : NodeType::Map, mark_of(ev->start_mark));
        const yaml_char_t* tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        d.tag = tag ? text_of(tag) : "?";
        anchor(seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor, d);
        attach(Node(&d));
        open.push_back({&d, std::nullopt});
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        if (open.empty()) break;
        Frame done = open.back();
        open.pop_back();
        done.node->expanded = done.expanded;
        if (!count(done.expanded, done.node->mark)) return std::nullopt;
        break;
      }
      case YAML_ALIAS_EVENT: {
        auto it = anchors.find(text_of(ev->data.alias.anchor));
        if (it == anchors.end()) {
          error = {mark_of(ev->start_mark), "the referenced anchor is not defined"};
          return std::nullopt;
        }
        for (const Frame& f : open) {
          if (f.node == it->second) {
            error = {mark_of(ev->start_mark),
                     "alias *" + text_of(ev->data.alias.anchor) + " is inside the node it refers to (a structure that contains itself)",
                     true};
            return std::nullopt;
          }
        }
        attach(Node(it->second));
        if (!count(it->second->expanded, mark_of(ev->start_mark))) return std::nullopt;
        break;
      }
      case YAML_DOCUMENT_END_EVENT:
      case YAML_STREAM_END_EVENT:
        // The first document only, as yaml-cpp's Load.
        if (have_root || ev->type == YAML_STREAM_END_EVENT) return doc;
        break;
      default:
        break;
    }
  }
}

}  // namespace wf::ydoc
