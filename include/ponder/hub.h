/* ponder/hub.h — where models live: local directories and the Hugging Face cache (src/model/hub.c). */
#ifndef PONDER_HUB_H
#define PONDER_HUB_H

#include "ponder/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolve a model spec to a local directory in Hugging Face layout: an existing
 * directory as it is; a repo id "ORG/NAME" (optionally "ORG/NAME@REVISION") looked up in
 * the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub:
 * models--ORG--NAME/snapshots/REV/). Writes the directory into dir. */
int pd_hub_resolve(const char *spec, char *dir, size_t dir_size, pd_error *err);

#ifdef __cplusplus
}
#endif
#endif
