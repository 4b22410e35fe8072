console.log("built on the host")
