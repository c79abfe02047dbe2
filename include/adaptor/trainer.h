/* `adaptor pretrain`: the Adaptor trained on cached embeddings, data-parallel over a
 * communicator (SPEC 5 and 7).
 *
 * Epoch order: the training split's indices shuffled with the seed once (the reference; the
 * same order every epoch), every epoch (seed, epoch), or never. Global batch k of an epoch is
 * order[k G, min((k+1) G, N)): the last one holds the N mod G remaining pairs unless
 * [train] drop_last (include/adaptor/trainplan.h); rank r takes a balanced contiguous share of
 * it (possibly none of a partial batch). Each rank reads only its own rows of the cache, once
 * per order.
 *
 * Outputs in [output] dir: config.ini, metrics.nc, checkpoints/step-XXXXXXXX/ every
 * checkpoint_every updates and at the end, and model.safetensors (final weights under the
 * reference names). SIGTERM or SIGUSR1 makes every rank stop at the next step boundary
 * after a checkpoint; `--resume` continues from the newest complete checkpoint, with any
 * number of ranks (same global batch). */
#ifndef ADAPTOR_TRAINER_H
#define ADAPTOR_TRAINER_H

#include "adaptor/config.h"

#include <mpi.h>

/* Returned when a signal stopped training after a checkpoint (not an error). */
#define AD_STOPPED 100

/* Installs the SIGTERM / SIGUSR1 handlers that request a checkpoint and a clean stop. */
void ad_trainer_catch_signals(void);

int ad_pretrain(MPI_Comm comm, const ad_config *cfg, int resume);

#endif
