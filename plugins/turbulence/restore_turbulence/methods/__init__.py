"""The turbulence plugin's methods: AT-DDPM, AT-VarDiff and the classical average + unsharp baseline."""
