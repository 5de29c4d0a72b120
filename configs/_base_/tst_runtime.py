# Pieces every TST config shares: the plugin (tst_plugin.py) and the policy logs / sample
# pictures. A config whose own base defines custom_hooks (mmengine refuses a key that two bases
# both define) inherits tst_plugin.py instead and lists these hooks after its own.
_base_ = './tst_plugin.py'

custom_hooks = [dict(type='tst_mm.TSTPolicyLoggerHook'), dict(type='tst_mm.TSTSampleGridHook')]
