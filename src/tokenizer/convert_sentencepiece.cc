// SentencePieceToGguf: a SentencePiece ModelProto (.model) to a GGUF "llama"
// vocabulary. The protobuf wire format is read by hand, only as far as needed:
//
//   ModelProto      1: pieces (repeated SentencePiece)  2: trainer_spec  3: normalizer_spec
//   SentencePiece   1: piece (string)  2: score (float)  3: type (enum, default NORMAL = 1)
//   TrainerSpec     3: model_type (UNIGRAM 1, BPE 2, WORD 3, CHAR 4)
//                   40: unk_id  41: bos_id  42: eos_id  43: pad_id (int32, -1 = none)
//   NormalizerSpec  3: add_dummy_prefix (bool, default true)
//
// Every varint, length and fixed field is checked against the bytes left.
#include <cstring>
#include <string>

#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {
namespace {

class Reader {
 public:
  Reader(std::string_view bytes, size_t base) : bytes_(bytes), base_(base) {}
  bool done() const { return pos_ >= bytes_.size(); }
  size_t offset() const { return base_ + pos_; }

  Status Varint(uint64_t* v) {
    const size_t start = offset();
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return Error(start, "varint runs past the end");
      const uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return OkStatus();
    }
    return Error(start, "varint longer than 10 bytes");
  }
  Status Fixed32(uint32_t* v) {
    if (bytes_.size() - pos_ < 4) return Error(offset(), "fixed32 runs past the end");
    std::memcpy(v, bytes_.data() + pos_, 4);
    pos_ += 4;
    return OkStatus();
  }
  // A length-delimited field: its bytes and their file offset.
  Status Bytes(std::string_view* v, size_t* at) {
    const size_t start = offset();
    uint64_t len;
    LOGITKIT_RETURN_IF_ERROR(Varint(&len));
    if (len > bytes_.size() - pos_) {
      return Error(start, "length " + std::to_string(len) + " runs past the end (" +
                              std::to_string(bytes_.size() - pos_) + " bytes left)");
    }
    *at = offset();
    *v = bytes_.substr(pos_, len);
    pos_ += len;
    return OkStatus();
  }
  Status Skip(uint32_t wire_type) {
    uint64_t u;
    uint32_t f;
    std::string_view s;
    size_t at;
    switch (wire_type) {
      case 0: return Varint(&u);
      case 1:
        if (bytes_.size() - pos_ < 8) return Error(offset(), "fixed64 runs past the end");
        pos_ += 8;
        return OkStatus();
      case 2: return Bytes(&s, &at);
      case 5: return Fixed32(&f);
      default: return Error(offset(), "unknown wire type " + std::to_string(wire_type));
    }
  }
  static Status Error(size_t at, const std::string& what) {
    return {StatusCode::kDataLoss, "sentencepiece model, byte offset " + std::to_string(at) +
                                       ": " + what};
  }

 private:
  std::string_view bytes_;
  size_t base_;
  size_t pos_ = 0;
};

// Reads fields of one message, calling on_field(field, wire_type, reader).
template <typename OnField>
Status ForEachField(std::string_view bytes, size_t base, OnField on_field) {
  Reader r(bytes, base);
  while (!r.done()) {
    const size_t at = r.offset();
    uint64_t tag;
    LOGITKIT_RETURN_IF_ERROR(r.Varint(&tag));
    const uint64_t field = tag >> 3;
    const uint32_t wire = static_cast<uint32_t>(tag & 7);
    if (field == 0) return Reader::Error(at, "field number 0");
    LOGITKIT_RETURN_IF_ERROR(on_field(field, wire, r, at));
  }
  return OkStatus();
}

Status Expect(uint32_t wire, uint32_t want, size_t at, const char* what) {
  if (wire == want) return OkStatus();
  return Reader::Error(at, std::string(what) + " has wire type " + std::to_string(wire) +
                               ", expected " + std::to_string(want));
}

}  // namespace

StatusOr<gguf::Writer> SentencePieceToGguf(std::string_view file) {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int64_t model_type = 1, unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool add_dummy_prefix = true;

  Status st = ForEachField(file, 0, [&](uint64_t field, uint32_t wire, Reader& r, size_t at) {
    if (field == 1) {  // SentencePiece
      LOGITKIT_RETURN_IF_ERROR(Expect(wire, 2, at, "ModelProto.pieces"));
      std::string_view msg;
      size_t msg_at;
      LOGITKIT_RETURN_IF_ERROR(r.Bytes(&msg, &msg_at));
      std::string piece;
      float score = 0;
      int32_t type = 1;
      LOGITKIT_RETURN_IF_ERROR(ForEachField(msg, msg_at, [&](uint64_t f, uint32_t w, Reader& pr,
                                                              size_t fat) -> Status {
        if (f == 1) {
          LOGITKIT_RETURN_IF_ERROR(Expect(w, 2, fat, "SentencePiece.piece"));
          std::string_view s;
          size_t s_at;
          LOGITKIT_RETURN_IF_ERROR(pr.Bytes(&s, &s_at));
          piece = std::string(s);
          return OkStatus();
        }
        if (f == 2) {
          LOGITKIT_RETURN_IF_ERROR(Expect(w, 5, fat, "SentencePiece.score"));
          uint32_t bits = 0;
          LOGITKIT_RETURN_IF_ERROR(pr.Fixed32(&bits));
          std::memcpy(&score, &bits, 4);
          return OkStatus();
        }
        if (f == 3) {
          LOGITKIT_RETURN_IF_ERROR(Expect(w, 0, fat, "SentencePiece.type"));
          uint64_t t;
          LOGITKIT_RETURN_IF_ERROR(pr.Varint(&t));
          if (t < 1 || t > 6) return Reader::Error(fat, "piece type " + std::to_string(t) + " is not 1..6");
          type = static_cast<int32_t>(t);
          return OkStatus();
        }
        return pr.Skip(w);
      }));
      pieces.push_back(std::move(piece));
      scores.push_back(score);
      types.push_back(type);
      return OkStatus();
    }
    if (field == 2 || field == 3) {
      LOGITKIT_RETURN_IF_ERROR(Expect(wire, 2, at, field == 2 ? "trainer_spec" : "normalizer_spec"));
      std::string_view msg;
      size_t msg_at;
      LOGITKIT_RETURN_IF_ERROR(r.Bytes(&msg, &msg_at));
      return ForEachField(msg, msg_at, [&](uint64_t f, uint32_t w, Reader& sr, size_t) -> Status {
        int64_t* target = nullptr;
        if (field == 2) {
          if (f == 3) target = &model_type;
          if (f == 40) target = &unk_id;
          if (f == 41) target = &bos_id;
          if (f == 42) target = &eos_id;
          if (f == 43) target = &pad_id;
        }
        if (target != nullptr && w == 0) {
          uint64_t u;
          LOGITKIT_RETURN_IF_ERROR(sr.Varint(&u));
          *target = static_cast<int32_t>(static_cast<uint32_t>(u));  // int32 wire semantics
          return OkStatus();
        }
        if (field == 3 && f == 3 && w == 0) {
          uint64_t u;
          LOGITKIT_RETURN_IF_ERROR(sr.Varint(&u));
          add_dummy_prefix = u != 0;
          return OkStatus();
        }
        return sr.Skip(w);
      });
    }
    return r.Skip(wire);
  });
  if (!st.ok()) return st;
  if (pieces.empty()) return InvalidArgumentError("sentencepiece model has no pieces");
  if (model_type != 2) {
    return InvalidArgumentError("sentencepiece model_type = " + std::to_string(model_type) +
                                " is not BPE (2): only SentencePiece BPE models (Llama 2, "
                                "Mistral) convert to a \"llama\" vocabulary");
  }
  const int64_t n = static_cast<int64_t>(pieces.size());
  gguf::Writer w;
  w.AddString("general.architecture", "llama");
  w.AddString("tokenizer.ggml.model", "llama");
  w.AddString("tokenizer.ggml.pre", "default");
  w.AddStringArray("tokenizer.ggml.tokens", pieces);
  w.AddFloat32Array("tokenizer.ggml.scores", scores);
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  struct Id { const char* key; int64_t id; const char* field; };
  for (Id id : {Id{"tokenizer.ggml.unknown_token_id", unk_id, "unk_id"},
                Id{"tokenizer.ggml.bos_token_id", bos_id, "bos_id"},
                Id{"tokenizer.ggml.eos_token_id", eos_id, "eos_id"},
                Id{"tokenizer.ggml.padding_token_id", pad_id, "pad_id"}}) {
    if (id.id < 0) continue;  // -1: the model has none
    if (id.id >= n) {
      return OutOfRangeError(std::string("sentencepiece trainer_spec.") + id.field + " = " +
                             std::to_string(id.id) + " is out of range for " + std::to_string(n) +
                             " pieces");
    }
    w.AddUint32(id.key, static_cast<uint32_t>(id.id));
  }
  w.AddBool("tokenizer.ggml.add_bos_token", true);
  w.AddBool("tokenizer.ggml.add_eos_token", false);
  w.AddBool("tokenizer.ggml.add_space_prefix", add_dummy_prefix);
  return w;
}

}  // namespace logitkit::tokenizer
