"""One module per ``mtmc`` sub-command: ``add_parser`` declares it, ``run`` carries it out."""
