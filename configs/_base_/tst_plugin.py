# What every config that trains with tst-mm needs: the plugin import, and the wrapper that
# stock launchers (the toolboxes' tools/train.py, mim train) put around TST under DDP.
custom_imports = dict(imports=['tst_mm'], allow_failed_imports=False)
model_wrapper_cfg = dict(type='tst_mm.TSTDistributedWrapper')
