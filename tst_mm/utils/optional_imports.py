"""Which failed imports mean "an optional toolbox is not installed" and nothing worse."""
__all__ = ['OPTIONAL_MODULES', 'optional_module_missing']

#: What a classification-only environment may lack: mmdet, mmseg, or mmcv's compiled ops
#: (``mmcv._ext``, absent from an mmcv built without them), which mmdet and mmseg import.
OPTIONAL_MODULES = ('mmdet', 'mmseg', 'mmcv._ext')


def optional_module_missing(err: ImportError) -> bool:
    """Whether ``err`` says that one of :data:`OPTIONAL_MODULES` is not installed.

    Any other import error (a part of an installed toolbox missing, a name a module no longer
    has, a compiled extension that does not load, a bug of ours) is not, and should be raised
    as it is.
    """
    return isinstance(err, ModuleNotFoundError) and err.name in OPTIONAL_MODULES
