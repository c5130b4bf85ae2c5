// What a Python logitkit.Model holds: the loaded model (weights
// memory-mapped), its tokenizer, chat format and a thread pool. Immutable after loading,
// so methods may run from several Python threads at once (each call makes its
// own Context; the pool serialises their matrix products).
#ifndef LOGITKIT_PYTHON_MODEL_H_
#define LOGITKIT_PYTHON_MODEL_H_

#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "logitkit/chat.h"
#include "logitkit/loaded_model.h"
#include "logitkit/model.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace logitkit::python {

class PyModel {
 public:
  // Loads model and tokenizer from `path` ("" : the default model) through
  // the library's loader; threads: 0 = one per core. Errors (as exceptions)
  // name the file.
  PyModel(const std::string& path, size_t threads);

  const std::string& path() const { return loaded_.path; }
  const LoadedModel& loaded() const { return loaded_; }
  const Model& model() const { return *loaded_.model; }
  const ModelConfig& config() const { return loaded_.config(); }
  const tokenizer::Tokenizer& tok() const { return *loaded_.tokenizer; }
  ThreadPool* pool() const { return loaded_.pool.get(); }

  // The tokens of `text_or_ids`: a str is encoded (LoadedModel::EncodePrompt:
  // BOS as the vocabulary says, special tokens written in it parsed only with
  // parse_special), anything else is read as token ids and checked against
  // n_vocab. Errors: no tokens; more than the context holds.
  std::vector<int32_t> Tokens(pybind11::handle text_or_ids, const char* name, bool parse_special = false) const;

  // A token's bytes as text (U+FFFD for bytes that are not UTF-8 on their own).
  std::string Piece(int32_t id) const;

 private:
  LoadedModel loaded_;
};

// A conversation from Python: a list of {'role': str, 'content': str} dicts
// (TypeError / ValueError naming the message otherwise). chat_bindings.cc.
std::vector<tokenizer::ChatMessage> ChatMessagesOf(pybind11::handle messages);

}  // namespace logitkit::python

#endif  // LOGITKIT_PYTHON_MODEL_H_
