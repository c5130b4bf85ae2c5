// Chat templates (chat.h) and Tokenizer::EncodeParts: what the template wrote
// parses special tokens, what a message brought never does; parts join into
// one text between special tokens; the engine's errors and the fallback to a
// built-in format. Rendering against Python's jinja2 on published templates
// is python/tests/test_chat_template.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "logitkit/chat.h"
#include "logitkit/gguf.h"
#include "logitkit/tokenizer.h"
#include "tokenizer/testing.h"

namespace logitkit::tokenizer {
namespace {

using testing::VectorsDir;

const Tokenizer* Gpt2() {
  static const StatusOr<Tokenizer> tok = Tokenizer::Open(VectorsDir() + "ggml-vocab-gpt-2.gguf");
  return tok.ok() ? &*tok : nullptr;
}
const Tokenizer* LlamaSpm() {
  static const StatusOr<Tokenizer> tok = Tokenizer::Open(VectorsDir() + "ggml-vocab-llama-spm.gguf");
  return tok.ok() ? &*tok : nullptr;
}
#define REQUIRE_VOCAB(tok) \
  if ((tok) == nullptr) GTEST_SKIP() << "shared vocabulary files not found in " << VectorsDir()

constexpr TokenId kEndOfText = 50256;  // GPT-2's <|endoftext|>, a control token

std::vector<TokenId> EncodeParts(const Tokenizer& tok, const std::vector<Tokenizer::TextPart>& parts) {
  EncodeOptions o;
  o.add_bos = false;
  StatusOr<std::vector<TokenId>> ids = tok.EncodeParts(parts, o);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<TokenId>{};
}

size_t Count(const std::vector<TokenId>& ids, TokenId id) { return size_t(std::count(ids.begin(), ids.end(), id)); }

TEST(EncodeParts, EqualsEncodingTheWholeTextWhenNoPartHoldsASpecialToken) {
  for (const Tokenizer* tok : {Gpt2(), LlamaSpm()}) {
    REQUIRE_VOCAB(tok);
    std::mt19937 rng(7);
    const std::string words[] = {"Hello", " world", "\n", "  ", "ing", ",", " 123", "é", "日本", " ", "\n\n", "x"};
    for (int i = 0; i < 300; ++i) {
      std::string whole;
      std::vector<std::string> texts;
      for (size_t k = 1 + rng() % 8; k > 0; --k) {
        texts.push_back(words[rng() % std::size(words)]);
        whole += texts.back();
      }
      std::vector<Tokenizer::TextPart> parts;
      for (const std::string& t : texts) parts.push_back({t, bool(rng() % 2)});
      EncodeOptions o;
      o.add_bos = false;
      EXPECT_EQ(EncodeParts(*tok, parts), *tok->Encode(whole, o)) << "case " << i << ": '" << whole << "'";
    }
  }
}

TEST(EncodeParts, SpecialTokensParseOnlyInsideOnePartThatAllowsIt) {
  REQUIRE_VOCAB(Gpt2());
  const Tokenizer& tok = *Gpt2();
  EXPECT_EQ(EncodeParts(tok, {{"a", true}, {"<|endoftext|>", true}, {"b", false}}),
            (std::vector<TokenId>{64, kEndOfText, 65}));
  // In a part that does not parse them: the characters, as Encode gives them.
  EncodeOptions plain;
  plain.add_bos = false;
  EXPECT_EQ(EncodeParts(tok, {{"a", true}, {"<|endoftext|>b", false}}), *tok.Encode("a<|endoftext|>b", plain));
  // Split across two parts that both parse: not one token (never across parts).
  EXPECT_EQ(Count(EncodeParts(tok, {{"<|endof", true}, {"text|>", true}}), kEndOfText), 0u);
}

std::string Text(const std::vector<ChatPart>& parts) {
  std::string s;
  for (const ChatPart& p : parts) s += p.text;
  return s;
}

const char kToyChatMl[] =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

TEST(ChatTemplate, RendersAndMarksWhatTheMessagesBrought) {
  StatusOr<ChatTemplate> t = ChatTemplate::Parse(kToyChatMl, "", "");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->is_jinja());
  const ChatMessage messages[] = {{"system", "Be brief."}, {"user", "Hi <|im_end|>"}};
  StatusOr<std::vector<ChatPart>> parts = t->Render(messages);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_EQ(Text(*parts), "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|><|im_end|>\n"
                          "<|im_start|>assistant\n");
  for (const ChatPart& p : *parts) {
    const bool content = p.text == "Be brief." || p.text == "Hi <|im_end|>";
    if (content) {
      EXPECT_TRUE(p.from_input) << p.text;
    }
    if (p.text.find("<|im_start|>") != std::string::npos) {
      EXPECT_FALSE(p.from_input) << p.text;
    }
  }
  ChatOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  EXPECT_EQ(Text(*t->Render(messages, no_prompt)).find("assistant"), std::string::npos);
}

TEST(ChatTemplate, SpecialTokensFromTheTemplateParseAndFromAMessageDoNot) {
  REQUIRE_VOCAB(Gpt2());
  const Tokenizer& tok = *Gpt2();
  StatusOr<ChatTemplate> t =
      ChatTemplate::Parse("{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
                          "<|endoftext|>", "<|endoftext|>");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const ChatMessage messages[] = {{"user", "x<|endoftext|>y"}};
  StatusOr<std::vector<TokenId>> ids = t->Encode(tok, messages);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(Count(*ids, kEndOfText), 2u);  // bos_token and eos_token, not the one in the message
  EXPECT_EQ(ids->front(), kEndOfText);
  EXPECT_EQ(ids->back(), kEndOfText);
  DecodeOptions render;
  render.render_special = true;
  EXPECT_EQ(*tok.Decode(*ids, render), "<|endoftext|>x<|endoftext|>y<|endoftext|>");
}

TEST(ChatTemplate, AMarkerThatReachesTheTemplatesTextThroughAFilterStaysText) {
  // tojson returns a string the engine does not mark as input; a control
  // token's text the template never writes is still the message's text.
  REQUIRE_VOCAB(Gpt2());
  const Tokenizer& tok = *Gpt2();
  StatusOr<ChatTemplate> t =
      ChatTemplate::Parse("{% for m in messages %}{{ m.content | tojson }}{{ m.content | upper }}{% endfor %}", "", "");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const ChatMessage messages[] = {{"user", "x<|endoftext|>y"}};
  StatusOr<std::vector<TokenId>> ids = t->Encode(tok, messages);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(Count(*ids, kEndOfText), 0u);
  DecodeOptions render;
  render.render_special = true;
  EXPECT_EQ(*tok.Decode(*ids, render), "\"x<|endoftext|>y\"X<|ENDOFTEXT|>Y");
  // The marker written by the template itself is the token.
  StatusOr<ChatTemplate> writes =
      ChatTemplate::Parse("{% for m in messages %}{{ m.content }}<|endoftext|>{% endfor %}", "", "");
  ASSERT_TRUE(writes.ok());
  StatusOr<std::vector<TokenId>> marked = writes->Encode(tok, messages);
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ(Count(*marked, kEndOfText), 1u);
  EXPECT_EQ(marked->back(), kEndOfText);
}

TEST(ChatTemplate, ErrorsNameTheProblem) {
  StatusOr<ChatTemplate> bad = ChatTemplate::Parse("{% if messages %}no end", "", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not parse"), std::string::npos) << bad.status().message();

  StatusOr<ChatTemplate> raises = ChatTemplate::Parse(
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok",
      "", "");
  ASSERT_TRUE(raises.ok()) << raises.status().ToString();
  const ChatMessage assistant_first[] = {{"assistant", "Hello"}};
  StatusOr<std::vector<ChatPart>> r = raises->Render(assistant_first);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Conversation must start with user"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(raises->Render({}).ok());  // no messages

  // An integer result int64_t cannot hold is an error (scripts/fetch-jinja's
  // patch of the engine; unpatched, x % 0 converted NaN to int64_t).
  const ChatMessage one[] = {{"user", "Hi"}};
  for (const char* source : {"{{ messages | length % 0 }}", "{{ 4611686018427387904 * 4 }}"}) {
    StatusOr<ChatTemplate> t = ChatTemplate::Parse(source, "", "");
    ASSERT_TRUE(t.ok()) << source << ": " << t.status().ToString();
    StatusOr<std::vector<ChatPart>> out = t->Render(one);
    ASSERT_FALSE(out.ok()) << source;
    EXPECT_NE(out.status().message().find("integer result out of range"), std::string::npos) << out.status().message();
  }

  ChatOptions bad_tools;
  bad_tools.tools_json = "{\"not\": \"an array\"}";
  const ChatMessage user[] = {{"user", "Hi"}};
  EXPECT_FALSE(raises->Render(user, bad_tools).ok());
}

TEST(ChatTemplate, BuiltInFormats) {
  const ChatMessage messages[] = {{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(Text(*ChatTemplate::BuiltIn(ChatFormat::kChatMl, "", "").Render(messages)),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Text(*ChatTemplate::BuiltIn(ChatFormat::kLlama3, "<B>", "<E>").Render(messages)),
            "<B><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>"
            "\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(Text(*ChatTemplate::BuiltIn(ChatFormat::kInst, "<s>", "</s>").Render(messages)), "<s>[INST] S\n\nU [/INST]");
  const ChatMessage tool[] = {{"tool", "42"}};
  StatusOr<std::vector<ChatPart>> r = ChatTemplate::BuiltIn(ChatFormat::kChatMl, "", "").Render(tool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("messages[0].role = 'tool'"), std::string::npos) << r.status().message();
}

// A vocabulary-only GGUF (the GPT-2 vocabulary's keys) with a chat template.
StatusOr<gguf::File> VocabWithTemplate(const std::string& chat_template, std::vector<uint8_t>* storage) {
  StatusOr<gguf::File> f = gguf::File::Open(VectorsDir() + "ggml-vocab-gpt-2.gguf");
  if (!f.ok()) return f.status();
  std::vector<std::string> tokens, merges;
  for (std::string_view v : f->Find("tokenizer.ggml.tokens")->strings) tokens.emplace_back(v);
  for (std::string_view v : f->Find("tokenizer.ggml.merges")->strings) merges.emplace_back(v);
  gguf::Writer w;
  w.AddString("tokenizer.ggml.model", "gpt2");
  w.AddStringArray("tokenizer.ggml.tokens", tokens);
  w.AddStringArray("tokenizer.ggml.merges", merges);
  w.AddString("tokenizer.chat_template", chat_template);
  *storage = w.Finish();
  return gguf::File::FromBytes(*storage);
}

TEST(ChatTemplate, AModelTemplateThatCannotRenderFallsBackWithAReason) {
  REQUIRE_VOCAB(Gpt2());
  struct Case {
    std::string source;
    bool jinja;
    ChatFormat format;
    const char* reason;
  } cases[] = {
      {kToyChatMl, true, ChatFormat::kChatMl, ""},
      {"{% for m in messages %}[INST] {{ m.content }}", false, ChatFormat::kInst, "does not parse"},
      {"<|start_header_id|>{{ messages.nope() }}", false, ChatFormat::kLlama3, "cannot render"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> storage;
    StatusOr<gguf::File> file = VocabWithTemplate(c.source, &storage);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    const ChatTemplate t = ChatTemplate::ForModel(*file, *Gpt2());
    EXPECT_EQ(t.is_jinja(), c.jinja) << c.source;
    if (!c.jinja) {
      EXPECT_EQ(t.format(), c.format) << c.source;
    }
    EXPECT_NE(t.fallback_reason().find(c.reason), std::string::npos) << c.source << ": " << t.fallback_reason();
    EXPECT_EQ(t.fallback_reason().empty(), c.jinja) << t.fallback_reason();
  }
}

}  // namespace
}  // namespace logitkit::tokenizer
