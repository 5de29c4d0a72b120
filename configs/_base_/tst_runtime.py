# Pieces every TST config shares: the plugin import and the policy logs / sample pictures.
# (optim_wrapper cannot live here: mmengine refuses a key defined by two bases, and the
# student's own config defines one.)
custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
# Stock launchers (the toolboxes' tools/train.py, mim train) wrap TST with this under DDP.
model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')
custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'), dict(type='tst_mm.TSTSampleGridHook')]
