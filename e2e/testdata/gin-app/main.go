// A gin app that renders a template from templates/ at run time, as
// heroku/go-getting-started and gin's examples do.
package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

const version = "v1"

func main() {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.LoadHTMLGlob("templates/*.tmpl.html")
	r.GET("/", func(c *gin.Context) {
		c.HTML(http.StatusOK, "index.tmpl.html", gin.H{"version": version})
	})
	r.Run(":" + os.Getenv("PORT"))
}
