"""One data function per resource (overview, project, mode change, history, job, versions,
packages): what its page, its fragment, its JSON twin and its command all show."""
