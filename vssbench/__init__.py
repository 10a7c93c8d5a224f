import warnings

# conf/hydra/launcher/*.yaml add vssbench's settings to the launcher plugins' configs of the same
# name; Hydra merges them onto the plugin's schema and warns that this is deprecated. Set here,
# not in __main__: launchers that compose a job's config in its own process (submitit) import
# the package, not the entry module.
warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema")
