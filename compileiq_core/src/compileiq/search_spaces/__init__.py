"""Search spaces: the builders (`base`), their models (`models`) and the compiled space (`space`)."""
